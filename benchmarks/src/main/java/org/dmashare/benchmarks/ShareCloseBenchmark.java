package org.dmashare.benchmarks;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
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
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Allocate, share into N domains and close one buffer with the safe helper. Domains are 16 KiB
 * granule ({@code lpae-16k}), one IOMMU each, over 4 KiB CPU pages. Target for 16 KiB into two
 * domains: median under 1 µs.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class ShareCloseBenchmark {
    /** Buffer size in bytes: 16 KiB, 1 MiB, 64 MiB. */
    @Param({"16384", "1048576", "67108864"})
    public long size;

    /** Number of domains the buffer is mapped into. */
    @Param({"1", "2", "4", "8"})
    public int domains;

    private DmaSharing sharing;
    private List<IommuDomain> targets;

    /** Memory and one domain per IOMMU; the first share warms the tables up. */
    @Setup
    public void setUp() {
        PhysicalMemory memory = PhysicalMemory.create(0x8_0000_0000L, 1L << 30, 4096);
        sharing = new DmaSharing(memory);
        targets = new ArrayList<>();
        for (int i = 0; i < domains; i++) {
            Iommu iommu = IommuBackends.find("generic").create(
                    IommuConfig.builder("lpae-16k").name("d" + i).inputBits(32).build(), memory);
            IommuDomain d = iommu.createDomain();
            iommu.device(0).attach(d);
            targets.add(d);
        }
    }

    /**
     * Allocate + map into every domain + close.
     *
     * @return the first IOVA, so the work is not dead code
     */
    @Benchmark
    public long shareAndClose() {
        try (SharedBuffer b = sharing.allocate(size, targets)) {
            return b.iova(targets.get(0));
        }
    }
}
