package org.dmashare.benchmarks;

import java.util.SplittableRandom;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import org.dmashare.iova.IovaAllocator;
import org.dmashare.memory.FailureInjector;
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
 * IOVA allocator throughput with 1,000 to 1,000,000 ranges live, each beside a {@link TreeMap}
 * baseline at the same population (the cost of any ordered index of live ranges). Target
 * (DESIGN.md): at least 10 million allocate + free pairs per second at 1,000 live ranges and half
 * that at 1,000,000.
 *
 * <ul>
 *   <li>{@link #allocateAndFree}: the target's measure, a streaming-DMA-like pair of a 16 KiB
 *       range allocated and freed again; the allocator returns to the same state every time.
 *   <li>{@link #churn}: a harder pattern no cache can short-cut: free a random live range and
 *       allocate one of a random size (4 to 64 KiB), so the free ranges move all over the space.
 * </ul>
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class IovaAllocatorBenchmark {
    private static final long GRANULE = 0x1000;

    /** Live ranges held while measuring. */
    @Param({"1000", "100000", "1000000"})
    public int liveRanges;

    private IovaAllocator iovas;
    private TreeMap<Long, Long> baseline;
    private long probe;
    /** The live ranges {@link #churn} replaces, and a random index and size source. */
    private long[] liveStarts;

    private long[] liveSizes;
    private long[] baselineKeys;
    private long state = 0x9E3779B97F4A7C15L;

    /** Fills the allocator with live ranges of 4..64 KiB, leaving gaps between them. */
    @Setup
    public void fill() {
        iovas = new IovaAllocator(GRANULE, 1L << 48, GRANULE, FailureInjector.none());
        baseline = new TreeMap<>();
        SplittableRandom random = new SplittableRandom(42);
        long[] starts = new long[liveRanges * 2];
        long[] sizes = new long[liveRanges * 2];
        for (int i = 0; i < starts.length; i++) {
            sizes[i] = GRANULE << random.nextInt(5);
            starts[i] = iovas.allocate(sizes[i], GRANULE);
        }
        for (int i = 0; i < starts.length; i += 2) {
            iovas.free(starts[i], sizes[i]);
        }
        liveStarts = new long[liveRanges];
        liveSizes = new long[liveRanges];
        baselineKeys = new long[liveRanges];
        for (int i = 1; i < starts.length; i += 2) {
            baseline.put(starts[i], sizes[i]);
            liveStarts[i / 2] = starts[i];
            liveSizes[i / 2] = sizes[i];
            baselineKeys[i / 2] = starts[i];
        }
        probe = starts[starts.length / 2 + 1] + 1;
    }

    /** xorshift64: a random stream cheap enough not to show in the measurement. */
    private long next() {
        long x = state;
        x ^= x << 13;
        x ^= x >>> 7;
        x ^= x << 17;
        state = x;
        return x;
    }

    /**
     * One allocate + free pair.
     *
     * @return the IOVA handed out
     */
    @Benchmark
    public long allocateAndFree() {
        long iova = iovas.allocate(0x4000, 0x4000);
        iovas.free(iova, 0x4000);
        return iova;
    }

    /**
     * Frees a random live range and allocates one of a random size from 4 to 64 KiB in its place,
     * keeping the population constant.
     *
     * @return the IOVA handed out
     */
    @Benchmark
    public long churn() {
        long r = next();
        int i = (int) ((r >>> 1) % liveRanges);
        iovas.free(liveStarts[i], liveSizes[i]);
        long size = GRANULE << ((r >>> 40) % 5);
        long iova = iovas.allocate(size, GRANULE);
        liveStarts[i] = iova;
        liveSizes[i] = size;
        return iova;
    }

    /**
     * Baseline for {@link #churn}: remove a random key from a TreeMap of the same population and
     * put a new random one.
     *
     * @return the removed value
     */
    @Benchmark
    public Long baselineTreeMapChurn() {
        long r = next();
        int i = (int) ((r >>> 1) % liveRanges);
        Long removed = baseline.remove(baselineKeys[i]);
        long key = (r >>> 20) << 12;
        if (baseline.putIfAbsent(key, 0x4000L) == null) {
            baselineKeys[i] = key;
        } else {
            baseline.put(baselineKeys[i], removed);
        }
        return removed;
    }

    /**
     * Baseline: one put + remove in a TreeMap of the same population.
     *
     * @return the removed value
     */
    @Benchmark
    public Long baselineTreeMapPutRemove() {
        baseline.put(probe, 0x4000L);
        return baseline.remove(probe);
    }
}
