package org.dmashare.benchmarks;

import java.util.concurrent.TimeUnit;
import org.dmashare.iova.IovaAllocator;
import org.dmashare.memory.FailureInjector;
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

/**
 * IOVA allocate + free of a 16 KiB range (granule 4 KiB, 1,000 ranges live) with one thread and
 * with two, each thread on its own allocator (disjoint) or both on one (shared), for the plain
 * allocator (one lock around the tree) and for one with per-thread range caches
 * ({@link IovaAllocator#withRangeCaches}). Throughput is summed over the threads, so two threads
 * scaling perfectly score twice the one-thread figure of the same kind, the same-run baseline.
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class IovaThreadsBenchmark {
    private static final long GRANULE = 0x1000;
    private static final long SIZE = 0x4000;
    private static final int LIVE = 1000;

    /** One allocator of each kind, filled with 1,000 live ranges separated by holes. */
    @State(Scope.Thread)
    public static class Own {
        IovaAllocator plain;
        IovaAllocator cached;

        /** Fills both allocators. */
        @Setup
        public void setUp() {
            plain = filled(new IovaAllocator(GRANULE, 1L << 48, GRANULE, FailureInjector.none()));
            cached = filled(IovaAllocator.withRangeCaches(GRANULE, 1L << 48, GRANULE, FailureInjector.none()));
        }
    }

    /** The same, shared by all threads. */
    @State(Scope.Benchmark)
    public static class Shared {
        IovaAllocator plain;
        IovaAllocator cached;

        /** Fills both allocators. */
        @Setup
        public void setUp() {
            plain = filled(new IovaAllocator(GRANULE, 1L << 48, GRANULE, FailureInjector.none()));
            cached = filled(IovaAllocator.withRangeCaches(GRANULE, 1L << 48, GRANULE, FailureInjector.none()));
        }
    }

    static IovaAllocator filled(IovaAllocator iovas) {
        long[] starts = new long[2 * LIVE];
        for (int i = 0; i < starts.length; i++) {
            starts[i] = iovas.allocate(SIZE, GRANULE);
        }
        for (int i = 0; i < starts.length; i += 2) {
            iovas.free(starts[i], SIZE);
        }
        iovas.drainCaches();
        return iovas;
    }

    private static long pair(IovaAllocator iovas) {
        long iova = iovas.allocate(SIZE, SIZE);
        iovas.free(iova, SIZE);
        return iova;
    }

    /**
     * Baseline: one thread, plain allocator.
     *
     * @param own this thread's allocators
     * @return the IOVA handed out
     */
    @Benchmark
    @Threads(1)
    public long plainOneThread(Own own) {
        return pair(own.plain);
    }

    /**
     * Two threads, each on its own plain allocator.
     *
     * @param own this thread's allocators
     * @return the IOVA handed out
     */
    @Benchmark
    @Threads(2)
    public long plainTwoThreadsOwnAllocators(Own own) {
        return pair(own.plain);
    }

    /**
     * Two threads on one plain allocator: every call takes its lock.
     *
     * @param shared the allocators both threads use
     * @return the IOVA handed out
     */
    @Benchmark
    @Threads(2)
    public long plainTwoThreadsSharedAllocator(Shared shared) {
        return pair(shared.plain);
    }

    /**
     * Baseline for the cached kind: one thread.
     *
     * @param own this thread's allocators
     * @return the IOVA handed out
     */
    @Benchmark
    @Threads(1)
    public long cachedOneThread(Own own) {
        return pair(own.cached);
    }

    /**
     * Two threads, each on its own allocator with range caches.
     *
     * @param own this thread's allocators
     * @return the IOVA handed out
     */
    @Benchmark
    @Threads(2)
    public long cachedTwoThreadsOwnAllocators(Own own) {
        return pair(own.cached);
    }

    /**
     * Two threads on one allocator with range caches: each hits its own cache stripe.
     *
     * @param shared the allocators both threads use
     * @return the IOVA handed out
     */
    @Benchmark
    @Threads(2)
    public long cachedTwoThreadsSharedAllocator(Shared shared) {
        return pair(shared.cached);
    }
}
