package org.dmashare.benchmarks;

import java.util.concurrent.TimeUnit;
import org.dmashare.iommu.IommuDomain;
import org.dmashare.iommu.Prot;
import org.dmashare.memory.PhysicalMemory;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Threads;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.infra.ThreadParams;

/**
 * Map and unmap of one 16 KiB page through {@link IommuDomain#map} and {@link IommuDomain#unmap}
 * on an Apple DART t8020 domain, with one thread (the same-run baseline) and with two, each on its
 * own domain or both on one domain at IOVAs 32 MiB apart (different leaf tables, so only the
 * domain's locks are shared). Throughput is summed over the threads: perfect scaling doubles it.
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class MapUnmapBenchmark {
    private static final long PAGE = 0x4000;
    private static final long FIRST_IOVA = 0x100_0000;
    private static final long THREAD_STRIDE = 0x200_0000;

    /** One memory and the domain all threads share. */
    @State(Scope.Benchmark)
    public static class Machine {
        PhysicalMemory memory;
        IommuDomain shared;

        /** The memory and one DART domain. */
        @Setup
        public void setUp() {
            memory = PhysicalMemory.create(0x8_0000_0000L, 1L << 30, 4096);
            shared = ShareCloseBenchmark.dartDomains(memory, 1).get(0);
        }
    }

    /** One thread's own domain, physical page and IOVA in the shared domain. */
    @State(Scope.Thread)
    public static class Own {
        IommuDomain domain;
        long pa;
        long sharedIova;

        /**
         * A DART of this thread's own on the shared memory.
         *
         * @param m the machine
         * @param thread which thread this is
         */
        @Setup
        public void setUp(Machine m, ThreadParams thread) {
            domain = ShareCloseBenchmark.dartDomains(m.memory, 1).get(0);
            pa = m.memory.base() + PAGE * thread.getThreadIndex();
            sharedIova = FIRST_IOVA + THREAD_STRIDE * thread.getThreadIndex();
        }
    }

    private static long mapUnmap(IommuDomain d, long iova, long pa) {
        d.map(iova, pa, PAGE, Prot.READ_WRITE);
        return d.unmap(iova, PAGE);
    }

    /**
     * Baseline: one thread on its own domain.
     *
     * @param own this thread's domain
     * @return bytes unmapped
     */
    @Benchmark
    @Threads(1)
    public long mapUnmapOneThread(Own own) {
        return mapUnmap(own.domain, FIRST_IOVA, own.pa);
    }

    /**
     * Two threads, each on its own domain.
     *
     * @param own this thread's domain
     * @return bytes unmapped
     */
    @Benchmark
    @Threads(2)
    public long mapUnmapTwoThreadsOwnDomains(Own own) {
        return mapUnmap(own.domain, FIRST_IOVA, own.pa);
    }

    /**
     * Two threads on one domain, at disjoint IOVAs.
     *
     * @param m the machine
     * @param own this thread's IOVA and page
     * @return bytes unmapped
     */
    @Benchmark
    @Threads(2)
    public long mapUnmapTwoThreadsSharedDomain(Machine m, Own own) {
        return mapUnmap(m.shared, own.sharedIova, own.pa);
    }
}
