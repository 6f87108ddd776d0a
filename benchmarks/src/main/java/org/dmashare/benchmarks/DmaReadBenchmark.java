package org.dmashare.benchmarks;

import java.util.List;
import java.util.concurrent.TimeUnit;
import org.dmashare.iommu.DmaDevice;
import org.dmashare.iommu.Iommu;
import org.dmashare.iommu.IommuBackends;
import org.dmashare.iommu.IommuConfig;
import org.dmashare.iommu.IommuDomain;
import org.dmashare.memory.PhysicalMemory;
import org.dmashare.sharing.DmaSharing;
import org.dmashare.sharing.SharedBuffer;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Device DMA read of 64 KiB through the IOMMU, with the IOTLB warm (hit) and flushed before
 * every read (miss: every 4 KiB page is walked from memory), against a baseline CPU read of the
 * same bytes straight from memory. Throughput is in reads per second.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class DmaReadBenchmark {
    private static final int LENGTH = 0x1_0000;

    private PhysicalMemory memory;
    private IommuDomain domain;
    private DmaDevice device;
    private long iova;
    private long pa;
    private final byte[] sink = new byte[LENGTH];

    /** One lpae-4k IOMMU, one 64 KiB buffer filled by the CPU. */
    @Setup
    public void setUp() {
        memory = PhysicalMemory.create(0x8_0000_0000L, 1L << 30, 4096);
        Iommu iommu = IommuBackends.find("generic").create(IommuConfig.of("lpae-4k"), memory);
        domain = iommu.createDomain();
        device = iommu.device(0);
        device.attach(domain);
        SharedBuffer buffer = new DmaSharing(memory).allocate(LENGTH, List.of(domain));
        buffer.write(0, new byte[LENGTH]);
        iova = buffer.iova(domain);
        pa = buffer.physicalAddress(0);
    }

    /**
     * DMA read with every translation cached.
     *
     * @return the bytes read
     */
    @Benchmark
    public byte[] readIotlbHit() {
        device.read(iova, sink, 0, LENGTH);
        return sink;
    }

    /**
     * DMA read after an IOTLB flush: every page is walked.
     *
     * @return the bytes read
     */
    @Benchmark
    public byte[] readIotlbMiss() {
        domain.flushIotlb();
        device.read(iova, sink, 0, LENGTH);
        return sink;
    }

    /**
     * Baseline: the CPU reads the same bytes from memory.
     *
     * @return the bytes read
     */
    @Benchmark
    public byte[] baselineCpuRead() {
        memory.read(pa, sink, 0, LENGTH);
        return sink;
    }
}
