package org.dmashare.benchmarks;

import java.util.SplittableRandom;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import org.dmashare.iova.IovaAllocator;
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
 * Allocate + free pairs of a 16 KiB IOVA range with 1,000 to 1,000,000 ranges live, against a
 * baseline of one {@link TreeMap} put + remove at the same population (the cost of any ordered
 * index of live ranges). Target: at least 10 million pairs per second at 1,000 live ranges and
 * half that at 1,000,000.
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

    /** Fills the allocator with live ranges of 4..64 KiB, leaving gaps between them. */
    @Setup
    public void fill() {
        iovas = new IovaAllocator(GRANULE, 1L << 48, GRANULE, null);
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
        for (int i = 1; i < starts.length; i += 2) {
            baseline.put(starts[i], sizes[i]);
        }
        probe = starts[starts.length / 2 + 1] + 1;
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
