package org.dmashare.testkit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;
import static org.dmashare.testkit.DmaShareAssertions.assertThat;
import static org.dmashare.testkit.KitFixture.iovaBase;
import static org.dmashare.testkit.KitFixture.pattern;
import static org.dmashare.testkit.KitFixture.rule;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.dmashare.iommu.IommuDomain;
import org.dmashare.iommu.Prot;
import org.dmashare.memory.PageAllocator;
import org.dmashare.sharing.SharedBuffer;
import org.dmashare.testkit.KitFixture.TwoUnits;
import org.junit.jupiter.api.Test;

/**
 * The kit's rules about use from several threads: CONC-1 to CONC-2, each stated in {@link
 * KitRule}. A topic of {@link IommuBackendConformanceKit}, which implements it, so that its
 * checks run, and report, under the backend author's test class; each check reaches its fresh
 * {@link KitFixture} through {@link #kit()}.
 */
public interface ConcurrencyRules extends KitTopic {

    /**
     * Checks {@link KitRule#CONC_1}.
     *
     * @throws Exception if a worker thread fails
     */
    @Test
    @Checks(KitRule.CONC_1)
    default void disjointMapsFromThreadsLand() throws Exception {
        KitFixture k = kit();
        IommuDomain d = k.attachedDomain(0);
        long g = k.granule();
        int threads = 4;
        int perThread = 16;
        long pa = k.pages(Long.highestOneBit(threads * perThread * g));
        long base = iovaBase(d, g);
        List<PageAllocator.Block> emptyDomain = k.memory().allocator().allocatedBlocks();
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        try {
            List<Callable<Void>> work = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                int id = t;
                work.add(() -> {
                    for (int round = 0; round < 8; round++) {
                        for (int i = 0; i < perThread; i++) {
                            long slot = (long) id * perThread + i;
                            // Spread threads' ranges over distinct upper-level tables too.
                            long iova = base + slot * g + (long) id * (1L << 21);
                            d.map(iova, pa + slot * g, g, Prot.READ_WRITE);
                        }
                        if (round < 7) {
                            for (int i = 0; i < perThread; i++) {
                                long slot = (long) id * perThread + i;
                                d.unmap(base + slot * g + (long) id * (1L << 21), g);
                            }
                        }
                    }
                    return null;
                });
            }
            for (Future<Void> f : pool.invokeAll(work)) {
                f.get();
            }
        } finally {
            pool.shutdownNow();
            pool.awaitTermination(10, TimeUnit.SECONDS);
        }
        for (int t = 0; t < threads; t++) {
            for (int i = 0; i < perThread; i++) {
                long slot = (long) t * perThread + i;
                long iova = base + slot * g + (long) t * (1L << 21);
                assertThat(d)
                        .as(rule("disjoint maps from several threads all land") + ": thread " + t + " slot " + i)
                        .translates(iova)
                        .to(pa + slot * g);
                d.unmap(iova, g);
            }
        }
        TableLifetimeRules.assertOnlyTablesDiffer(
                k.memory(), emptyDomain, rule("concurrent map and unmap leak no page"));
    }

    /**
     * Checks {@link KitRule#CONC_2}.
     *
     * @throws Exception if a worker thread fails
     */
    @Test
    @Checks(KitRule.CONC_2)
    default void helperIsThreadSafe() throws Exception {
        KitFixture k = kit();
        TwoUnits u = k.twoUnits();
        long bufferBytes = k.memory().allocator().usage().bufferBytes();
        long g = k.granule();
        ExecutorService pool = Executors.newFixedThreadPool(4);
        try {
            List<Callable<Void>> work = new ArrayList<>();
            for (int t = 0; t < 4; t++) {
                int id = t;
                work.add(() -> {
                    for (int i = 0; i < 10; i++) {
                        try (SharedBuffer b = u.sharing().allocate((id + 1) * g + i, List.of(u.first(), u.second()))) {
                            byte[] data = pattern(16, id * 16 + i);
                            b.write(0, data);
                            if (!Arrays.equals(u.otherUnit().device(0).read(b.iova(u.second()), 16), data)
                                    || !Arrays.equals(k.iommu().device(0).read(b.iova(u.first()), 16), data)) {
                                fail(rule("buffers may be used from many threads") + " broken: thread " + id
                                        + " read other bytes than it wrote through " + b);
                            }
                        }
                    }
                    return null;
                });
            }
            for (Future<Void> f : pool.invokeAll(work)) {
                f.get();
            }
        } finally {
            pool.shutdownNow();
            pool.awaitTermination(10, TimeUnit.SECONDS);
        }
        assertThat(u.sharing().liveBuffers()).isZero();
        assertThat(k.memory().allocator().usage().bufferBytes())
                .as(rule("concurrent use leaks no page"))
                .isEqualTo(bufferBytes);
    }
}
