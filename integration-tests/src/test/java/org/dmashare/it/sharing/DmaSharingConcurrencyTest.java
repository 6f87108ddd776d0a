package org.dmashare.it.sharing;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.dmashare.MappingConflictException;
import org.dmashare.PhysicalMemoryExhaustedException;
import org.dmashare.iommu.IommuDomain;
import org.dmashare.it.rig.Rig;
import org.dmashare.sharing.ShareOptions;
import org.dmashare.sharing.SharedBuffer;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Guarantee 9: the helper, buffers and domains may be used from many threads. Threads allocate,
 * late-share, unshare, do DMA and close on shared domains; afterwards nothing overlaps, every
 * live buffer translates correctly, and everything balances once all are closed.
 */
class DmaSharingConcurrencyTest {
    private static final int THREADS = 4;
    private static final int SCALE = Integer.getInteger("dmashare.test.scale", 1);

    @ParameterizedTest
    @MethodSource("org.dmashare.it.rig.Rig#trios")
    void concurrentSharingKeepsEveryInvariant(String[] set) throws Exception {
        Rig rig = new Rig(256L << 20, 4096, set);
        Rig.State initial = rig.state();
        long seed = System.nanoTime();
        System.out.println("concurrentSharingKeepsEveryInvariant seed=" + seed + " scale=" + SCALE);
        List<SharedBuffer> survivors = Collections.synchronizedList(new ArrayList<>());
        ExecutorService pool = Executors.newFixedThreadPool(THREADS);
        List<Future<?>> work = new ArrayList<>();
        for (int t = 0; t < THREADS; t++) {
            Random random = new Random(seed + t);
            work.add(pool.submit(() -> {
                List<SharedBuffer> mine = new ArrayList<>();
                for (int op = 0; op < 300 * SCALE; op++) {
                    int choice = random.nextInt(10);
                    if (choice < 4 || mine.isEmpty()) {
                        long size = 1 + random.nextInt(0x2_0000);
                        ShareOptions opts = ShareOptions.builder()
                                .identicalIova(random.nextBoolean())
                                .futureDomains(rig.domain(2))
                                .build();
                        try {
                            mine.add(rig.sharing.allocate(size, rig.domains.subList(0, 2), opts));
                        } catch (PhysicalMemoryExhaustedException full) {
                            // refused cleanly when memory is full; free something and go on
                            if (!mine.isEmpty()) {
                                mine.remove(0).close();
                            }
                        }
                    } else if (choice < 6) {
                        SharedBuffer b = mine.get(random.nextInt(mine.size()));
                        if (b.isMappedIn(rig.domain(2))) {
                            b.unshare(rig.domain(2));
                        } else {
                            try {
                                b.shareWith(rig.domain(2));
                            } catch (MappingConflictException takenByIdenticalPeer) {
                                // an identical-IOVA buffer's range can be taken in the late domain; refused cleanly
                            }
                        }
                    } else if (choice < 8) {
                        SharedBuffer b = mine.get(random.nextInt(mine.size()));
                        byte[] data = Rig.pattern((int) Math.min(b.size(), 0x3000), op);
                        b.write(0, data);
                        for (SharedBuffer.Mapping m : b.mappings()) {
                            byte[] back = Rig.device(m.domain()).read(m.iova(), data.length);
                            if (!Arrays.equals(back, data)) {
                                throw new AssertionError("DMA through " + m + " read other bytes than the CPU wrote");
                            }
                        }
                    } else {
                        mine.remove(random.nextInt(mine.size())).close();
                    }
                }
                survivors.addAll(mine);
                return null;
            }));
        }
        pool.shutdown();
        assertThat(pool.awaitTermination(60, TimeUnit.SECONDS))
                .as("no deadlock: all threads finished")
                .isTrue();
        for (Future<?> f : work) {
            f.get();
        }
        for (IommuDomain d : rig.domains) {
            List<long[]> ranges = new ArrayList<>();
            for (SharedBuffer b : survivors) {
                if (b.isMappedIn(d)) {
                    Rig.assertContiguous(b, d);
                    ranges.add(new long[] {b.iova(d), b.iova(d) + b.length()});
                }
            }
            ranges.sort((a, b) -> Long.compare(a[0], b[0]));
            for (int i = 1; i < ranges.size(); i++) {
                assertThat(ranges.get(i)[0])
                        .as("IOVA ranges in %s do not overlap", d)
                        .isGreaterThanOrEqualTo(ranges.get(i - 1)[1]);
            }
            Rig.assertNoOverExposure(d, survivors);
        }
        for (SharedBuffer b : survivors) {
            b.close();
        }
        assertThat(rig.state()).isEqualTo(initial);
        assertThat(rig.sharing.liveBuffers()).isZero();
    }
}
