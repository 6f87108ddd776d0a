package org.dmashare.benchmarks;

import java.lang.management.ManagementFactory;
import java.lang.management.MemoryMXBean;
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
import org.openjdk.jmh.annotations.AuxCounters;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.infra.BenchmarkParams;

/**
 * Heap bytes per live buffer beyond the data written into it: allocates {@code buffers} 16 KiB
 * buffers shared into two domains (no data written), and reports the growth of the used heap
 * after a full GC divided by the count, as the secondary result {@code heapBytesPerBuffer}. The
 * baseline is the same count of empty {@code Object}s (16 bytes each on a 64-bit JVM with
 * compressed oops), reported as {@code baselineBytesPerObject}. Target: under 320 bytes (issue 14;
 * 512 in the first round).
 *
 * <p>JMH sums {@link AuxCounters.Type#EVENTS} counters over the measurement iterations, so each
 * iteration reports its value divided by the number of measurement iterations: the summary line
 * is then the mean per buffer, and the per-iteration lines are that share.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.SingleShotTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 1)
@Measurement(iterations = 3)
@Fork(1)
public class HeapPerBufferBenchmark {
    /** Number of live buffers. */
    @Param({"20000"})
    public int buffers;

    private DmaSharing sharing;
    private List<IommuDomain> domains;
    private final List<SharedBuffer> live = new ArrayList<>();
    private final List<Object> objects = new ArrayList<>();
    private int measurementIterations = 1;

    /**
     * Remembers how many measurement iterations there are, to report means (see the class doc).
     *
     * @param params the run's parameters
     */
    @Setup(Level.Trial)
    public void readParams(BenchmarkParams params) {
        measurementIterations = Math.max(1, params.getMeasurement().getCount());
    }

    /** Per-iteration results reported by JMH next to the time. */
    @State(Scope.Thread)
    @AuxCounters(AuxCounters.Type.EVENTS)
    public static class Result {
        /** Heap growth per live buffer, in bytes. */
        public double heapBytesPerBuffer;
        /** Heap growth per baseline object, in bytes. */
        public double baselineBytesPerObject;
    }

    /** Memory and two 16 KiB-granule domains. */
    @Setup(Level.Iteration)
    public void setUp() {
        PhysicalMemory memory = PhysicalMemory.create(0x8_0000_0000L, 4L << 30, 4096);
        sharing = new DmaSharing(memory);
        domains = new ArrayList<>();
        for (int i = 0; i < 2; i++) {
            Iommu iommu = IommuBackends.find("generic")
                    .create(
                            IommuConfig.builder("lpae-16k")
                                    .name("d" + i)
                                    .inputBits(36)
                                    .build(),
                            memory);
            domains.add(iommu.createDomain());
        }
        // Table pages for the first buffers are data, not per-buffer overhead: touch them once.
        sharing.allocate(0x4000, domains).close();
    }

    /** Closes every buffer. */
    @TearDown(Level.Iteration)
    public void tearDown() {
        live.forEach(SharedBuffer::close);
        live.clear();
        objects.clear();
    }

    private static long usedHeap() {
        MemoryMXBean bean = ManagementFactory.getMemoryMXBean();
        for (int i = 0; i < 3; i++) {
            System.gc();
        }
        return bean.getHeapMemoryUsage().getUsed();
    }

    /**
     * Allocates the buffers and measures the heap they hold.
     *
     * @param result where the per-buffer numbers go
     * @return the live count
     */
    @Benchmark
    public int measure(Result result) {
        long touchedBefore = sharing.memory().touchedBytes();
        long before = usedHeap();
        for (int i = 0; i < buffers; i++) {
            live.add(sharing.allocate(0x4000, domains));
        }
        long afterBuffers = usedHeap();
        for (int i = 0; i < buffers; i++) {
            objects.add(new Object());
        }
        long afterObjects = usedHeap();
        // Page-table pages backed while mapping are modelled RAM, not per-buffer heap; subtract them.
        long tableFrames = sharing.memory().touchedBytes() - touchedBefore;
        result.heapBytesPerBuffer = (double) (afterBuffers - before - tableFrames) / buffers / measurementIterations;
        result.baselineBytesPerObject = (double) (afterObjects - afterBuffers) / buffers / measurementIterations;
        return live.size();
    }
}
