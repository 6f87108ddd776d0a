package org.dmashare.benchmarks;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Collection;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.options.Options;
import org.openjdk.jmh.runner.options.OptionsBuilder;
import org.openjdk.jmh.runner.options.TimeValue;
import org.openjdk.jmh.runner.options.VerboseMode;

/**
 * Runs every benchmark once, briefly and in-process, so none of them can rot. The numbers are
 * meaningless; the full run is documented in benchmarks/RESULTS.md.
 */
class BenchmarkSmokeTest {

    @Test
    void everyBenchmarkRunsOneShortIteration() throws Exception {
        // The smoke run's numbers are meaningless, so it need not wait for a real JMH run holding
        // the machine-wide /tmp/jmh.lock.
        System.setProperty("jmh.ignoreLock", "true");
        Options options = new OptionsBuilder()
                .include("org\\.dmashare\\.benchmarks\\..*")
                .forks(0)
                .warmupIterations(0)
                .measurementIterations(1)
                .measurementTime(TimeValue.milliseconds(20))
                .param("liveRanges", "1000")
                .param("size", "16384")
                .param("domains", "2")
                .param("buffers", "200")
                .shouldFailOnError(true)
                .verbosity(VerboseMode.SILENT)
                .build();
        Collection<RunResult> results = new Runner(options).run();
        Set<String> ran =
                results.stream().map(r -> r.getParams().getBenchmark()).collect(Collectors.toSet());
        // Every @Benchmark method of every benchmark class ran: a new benchmark cannot be missed.
        Set<String> declared = Stream.of(
                        BulkMapBenchmark.class,
                        DmaReadBenchmark.class,
                        HeapPerBufferBenchmark.class,
                        IovaAllocatorBenchmark.class,
                        IovaThreadsBenchmark.class,
                        MapUnmapBenchmark.class,
                        ShareCloseBenchmark.class,
                        ShareCloseThreadsBenchmark.class)
                .flatMap(c -> Stream.of(c.getDeclaredMethods()))
                .filter(m -> m.isAnnotationPresent(Benchmark.class))
                .map(m -> m.getDeclaringClass().getName() + "." + m.getName())
                .collect(Collectors.toSet());
        assertThat(declared).hasSizeGreaterThanOrEqualTo(28);
        assertThat(ran).containsExactlyInAnyOrderElementsOf(declared);
        for (RunResult r : results) {
            assertThat(r.getPrimaryResult().getScore())
                    .as(r.getParams().getBenchmark())
                    .isPositive();
        }
    }
}
