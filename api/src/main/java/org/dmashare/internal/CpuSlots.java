package org.dmashare.internal;

import java.util.concurrent.atomic.AtomicInteger;

/**
 * The model's stand-in for a CPU number, used by the per-CPU caches of the allocators (the IOVA
 * range caches and the page allocator's per-CPU page lists): each thread gets a number, round-robin
 * on first use and the same for every allocator, as a CPU has one number for every per-CPU
 * structure. Threads started together therefore get different numbers; a thread id, used at
 * first, put two benchmark threads on one stripe now and then.
 */
public final class CpuSlots {
    private static final AtomicInteger NEXT = new AtomicInteger();
    private static final ThreadLocal<int[]> NUMBER = ThreadLocal.withInitial(() -> new int[] {NEXT.getAndIncrement()});

    private CpuSlots() {}

    /**
     * The calling thread's number.
     *
     * @return a non-negative number, fixed for the thread's life (wraps after 2^31 threads)
     */
    public static int current() {
        return NUMBER.get()[0] & Integer.MAX_VALUE;
    }

    /**
     * How many per-CPU stripes a cache should have: the smallest power of two of at least twice
     * the available processors, at least 2 and at most 64.
     *
     * @return a power of two in {@code [2, 64]}
     */
    public static int stripes() {
        int n = 2;
        while (n < 2 * Runtime.getRuntime().availableProcessors() && n < 64) {
            n <<= 1;
        }
        return n;
    }
}
