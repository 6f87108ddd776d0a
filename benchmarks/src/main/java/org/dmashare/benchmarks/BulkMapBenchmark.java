package org.dmashare.benchmarks;

import java.util.concurrent.TimeUnit;
import org.dmashare.iommu.Iommu;
import org.dmashare.iommu.IommuBackends;
import org.dmashare.iommu.IommuConfig;
import org.dmashare.iommu.IommuDomain;
import org.dmashare.iommu.Prot;
import org.dmashare.memory.PhysicalMemory;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Bulk mapping throughput in page-table entries per second: a fresh domain maps 1 GiB with
 * granule-sized leaves (IOVA and physical address offset by one granule so no block fits), table
 * allocation included, then is closed. The baseline writes the same number of 64-bit entries into
 * a plain {@code long[]}. Variants: {@code lpae-4k}, {@code lpae-16k}, an Apple DART
 * ({@code t8020}, 16 KiB leaves), ARM v7s ({@code arm-v7s}: 4-byte entries, 1 KiB level-2
 * tables from the sub-page allocator) and AMD-Vi v1 ({@code amd-v1}: 4 KiB leaves in a mode-3
 * table). The v7s and AMD units map memory placed below 4 GiB, where the v7s unit's 32-bit output
 * width reaches. Target: at least 100 million entries per second.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(1)
public class BulkMapBenchmark {
    static final long GIB = 1L << 30;
    static final int PTES_4K = (int) (GIB >> 12);
    static final int PTES_16K = (int) (GIB >> 14);

    private PhysicalMemory memory;
    private Iommu lpae4k;
    private Iommu lpae16k;
    private Iommu dart;
    private PhysicalMemory low;
    private Iommu v7s;
    private Iommu amd;
    private long[] plain;

    /**
     * Three IOMMUs (lpae-4k, lpae-16k, DART t8020) over 2 GiB of (untouched) memory, and arm-v7s
     * and amd-v1 over 2 GiB below 4 GiB.
     */
    @Setup
    public void setUp() {
        memory = PhysicalMemory.create(0x8_0000_0000L, 2 * GIB, 4096);
        lpae4k = IommuBackends.find("generic").create(IommuConfig.of("lpae-4k"), memory);
        lpae16k = IommuBackends.find("generic").create(IommuConfig.of("lpae-16k"), memory);
        dart = IommuBackends.find("apple-dart").create(IommuConfig.of("t8020"), memory);
        low = PhysicalMemory.create(0x4000_0000L, 2 * GIB, 4096);
        v7s = IommuBackends.find("arm-v7s").create(IommuConfig.of("v7s"), low);
        amd = IommuBackends.find("amd-v1").create(IommuConfig.of("v1"), low);
        plain = new long[PTES_4K];
    }

    private long mapGib(Iommu iommu) {
        long granule = iommu.variant().granule();
        try (IommuDomain d = iommu.createDomain()) {
            d.map(granule, iommu.memory().base(), GIB, Prot.READ_WRITE);
            return d.iovaToPhys(granule);
        }
    }

    /**
     * 262,144 4 KiB leaves on lpae-4k.
     *
     * @return a translation, so the work is not dead code
     */
    @Benchmark
    @OperationsPerInvocation(PTES_4K)
    public long mapGibLpae4k() {
        return mapGib(lpae4k);
    }

    /**
     * 65,536 16 KiB leaves on lpae-16k.
     *
     * @return a translation, so the work is not dead code
     */
    @Benchmark
    @OperationsPerInvocation(PTES_16K)
    public long mapGibLpae16k() {
        return mapGib(lpae16k);
    }

    /**
     * 65,536 16 KiB leaves on an Apple DART (t8020: two-level tables, 32-bit IOVA).
     *
     * @return a translation, so the work is not dead code
     */
    @Benchmark
    @OperationsPerInvocation(PTES_16K)
    public long mapGibDart() {
        return mapGib(dart);
    }

    /**
     * 262,144 4 KiB small pages on arm-v7s: 32-bit entries in 1 KiB level-2 tables.
     *
     * @return a translation, so the work is not dead code
     */
    @Benchmark
    @OperationsPerInvocation(PTES_4K)
    public long mapGibArmV7s() {
        return mapGib(v7s);
    }

    /**
     * 262,144 4 KiB leaves on amd-v1 (mode 3).
     *
     * @return a translation, so the work is not dead code
     */
    @Benchmark
    @OperationsPerInvocation(PTES_4K)
    public long mapGibAmdV1() {
        return mapGib(amd);
    }

    /**
     * Baseline: 262,144 64-bit stores into a {@code long[]}.
     *
     * @return the array, so the stores are not dead code
     */
    @Benchmark
    @OperationsPerInvocation(PTES_4K)
    public long[] baselineLongArrayWrites() {
        long v = 0x8_0000_0003L;
        for (int i = 0; i < plain.length; i++) {
            plain[i] = v + ((long) i << 12);
        }
        return plain;
    }
}
