package org.dmashare.benchmarks;

import java.util.List;
import java.util.concurrent.TimeUnit;
import org.dmashare.dmaapi.CoherentBuffer;
import org.dmashare.dmaapi.DataDirection;
import org.dmashare.dmaapi.DeviceParams;
import org.dmashare.dmaapi.Gfp;
import org.dmashare.dmaapi.IommuDma;
import org.dmashare.dmaapi.LinuxDevice;
import org.dmashare.dmaapi.Profile;
import org.dmashare.dmaapi.SgTable;
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
import org.openjdk.jmh.annotations.Threads;
import org.openjdk.jmh.annotations.Warmup;

/**
 * {@link ShareCloseBenchmark}'s headline case (16 KiB into two DART t8020 domains over 4 KiB CPU
 * pages) with one thread and with two, beside the legacy DMA-API path doing the same work with the
 * same threads in the same run. All threads share one physical memory and one {@link DmaSharing}
 * (one machine); "own" domains are two DARTs per thread, "shared" domains two DARTs both threads
 * map into. Sample time in ns per share + close: two threads scale perfectly when their median
 * equals the one-thread median, and two threads' throughput relative to one thread is
 * {@code 2 × one-thread median / two-thread median}. {@code perCpuCaches} runs everything, the
 * legacy path included, with and without per-CPU page lists and IOVA caches.
 */
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class ShareCloseThreadsBenchmark {
    private static final long SIZE = 0x4000;
    private static final int DOMAINS = 2;

    /** The machine: memories, the helper and the legacy DMA layer, and the shared domains. */
    @State(Scope.Benchmark)
    public static class Machine {
        /**
         * Whether both memories keep per-CPU page lists and their domains per-CPU IOVA caches
         * ({@link PhysicalMemory#withPageCaches}), as an SMP Linux kernel does; {@code false}
         * runs the same with the allocators' global locks only.
         */
        @Param({"true", "false"})
        public boolean perCpuCaches;

        PhysicalMemory memory;
        DmaSharing sharing;
        List<IommuDomain> sharedDomains;
        PhysicalMemory legacyMemory;
        IommuDma dma;
        LinuxDevice[] sharedLegacy;

        /** Two memories (helper, legacy), each with two DARTs both threads use. */
        @Setup
        public void setUp() {
            memory = memory();
            sharing = new DmaSharing(memory);
            sharedDomains = ShareCloseBenchmark.dartDomains(memory, DOMAINS);
            legacyMemory = memory();
            dma = IommuDma.builder(legacyMemory)
                    .profile(Profile.ASAHI_GRANULE_NO_SGTABLE_GUARD)
                    .build();
            sharedLegacy = probe(dma, ShareCloseBenchmark.dartDomains(legacyMemory, DOMAINS), "shared");
        }

        private PhysicalMemory memory() {
            return perCpuCaches
                    ? PhysicalMemory.withPageCaches(0x8_0000_0000L, 1L << 30, 4096)
                    : PhysicalMemory.create(0x8_0000_0000L, 1L << 30, 4096);
        }
    }

    /** One thread's own DARTs, for the helper and the legacy path. */
    @State(Scope.Thread)
    public static class Own {
        List<IommuDomain> domains;
        LinuxDevice[] legacy;
        final SgTable[] tables = new SgTable[DOMAINS];

        /**
         * Two DARTs per path on the shared memories.
         *
         * @param m the machine
         */
        @Setup
        public void setUp(Machine m) {
            domains = ShareCloseBenchmark.dartDomains(m.memory, DOMAINS);
            legacy = probe(
                    m.dma,
                    ShareCloseBenchmark.dartDomains(m.legacyMemory, DOMAINS),
                    Thread.currentThread().getName());
        }
    }

    /**
     * One thread's own machine: its own physical memory, helper and two DARTs, sharing no object
     * of the library with the other thread. Two threads on their own machines show what this JVM
     * and these cores give two threads of this work when the library shares nothing.
     */
    @State(Scope.Thread)
    public static class Alone {
        DmaSharing sharing;
        List<IommuDomain> domains;

        /**
         * A memory like the machine's, its helper and two DARTs.
         *
         * @param m the machine, for its cache setting
         */
        @Setup
        public void setUp(Machine m) {
            PhysicalMemory memory = m.memory();
            sharing = new DmaSharing(memory);
            domains = ShareCloseBenchmark.dartDomains(memory, DOMAINS);
        }
    }

    static LinuxDevice[] probe(IommuDma dma, List<IommuDomain> domains, String prefix) {
        LinuxDevice[] out = new LinuxDevice[domains.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = dma.probe(domains.get(i).iommu().device(0), DeviceParams.platform(prefix + "-dev" + i));
        }
        return out;
    }

    private static long share(DmaSharing sharing, List<IommuDomain> targets) {
        try (SharedBuffer b = sharing.allocate(SIZE, targets)) {
            return b.iova(targets.get(0));
        }
    }

    private static long legacy(LinuxDevice[] devices, SgTable[] tables) {
        LinuxDevice first = devices[0];
        CoherentBuffer buf = first.allocCoherent(SIZE, Gfp.KERNEL);
        for (int i = 1; i < devices.length; i++) {
            SgTable sgt = first.getSgtable(buf);
            devices[i].mapSgtable(sgt, DataDirection.BIDIRECTIONAL);
            tables[i] = sgt;
        }
        for (int i = 1; i < devices.length; i++) {
            devices[i].unmapSgtable(tables[i], DataDirection.BIDIRECTIONAL);
            tables[i] = null;
        }
        long handle = buf.dmaHandle();
        first.freeCoherent(buf);
        return handle;
    }

    /**
     * One thread, its own domains: the baseline the two-thread helper figures are read against.
     *
     * @param m the machine
     * @param own this thread's domains
     * @return the first IOVA, so the work is not dead code
     */
    @Benchmark
    @Threads(1)
    public long shareAndCloseOneThread(Machine m, Own own) {
        return share(m.sharing, own.domains);
    }

    /**
     * Two threads, each on its own two domains (nothing shared but memory and the helper).
     *
     * @param m the machine
     * @param own this thread's domains
     * @return the first IOVA
     */
    @Benchmark
    @Threads(2)
    public long shareAndCloseTwoThreadsOwnDomains(Machine m, Own own) {
        return share(m.sharing, own.domains);
    }

    /**
     * Ceiling: two threads, each on a machine of its own (memory, helper, domains).
     *
     * @param alone this thread's machine
     * @return the first IOVA
     */
    @Benchmark
    @Threads(2)
    public long shareAndCloseTwoThreadsOwnMachines(Alone alone) {
        return share(alone.sharing, alone.domains);
    }

    /**
     * Two threads sharing into the same two domains.
     *
     * @param m the machine
     * @return the first IOVA
     */
    @Benchmark
    @Threads(2)
    public long shareAndCloseTwoThreadsSharedDomains(Machine m) {
        return share(m.sharing, m.sharedDomains);
    }

    /**
     * Baseline: the legacy DMA-API path, one thread on its own devices.
     *
     * @param own this thread's devices
     * @return the first device's DMA handle
     */
    @Benchmark
    @Threads(1)
    public long baselineLegacyOneThread(Own own) {
        return legacy(own.legacy, own.tables);
    }

    /**
     * Baseline: the legacy path, two threads each on its own devices.
     *
     * @param own this thread's devices
     * @return the first device's DMA handle
     */
    @Benchmark
    @Threads(2)
    public long baselineLegacyTwoThreadsOwnDevices(Own own) {
        return legacy(own.legacy, own.tables);
    }

    /**
     * Baseline: the legacy path, two threads on the same two devices.
     *
     * @param m the machine
     * @param own this thread's scatter-gather table slots
     * @return the first device's DMA handle
     */
    @Benchmark
    @Threads(2)
    public long baselineLegacyTwoThreadsSharedDevices(Machine m, Own own) {
        return legacy(m.sharedLegacy, own.tables);
    }
}
