package org.dmashare.sharing;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.dmashare.Hex;
import org.dmashare.fixture.TwoLevelBackend;
import org.dmashare.iommu.Iommu;
import org.dmashare.iommu.IommuBackends;
import org.dmashare.iommu.IommuConfig;
import org.dmashare.iommu.IommuDomain;
import org.dmashare.iommu.Translation;
import org.dmashare.memory.PageAllocator;
import org.dmashare.memory.PageUse;
import org.dmashare.memory.PhysicalMemory;
import org.junit.jupiter.api.Test;

/**
 * The helper over a memory with per-CPU page lists and IOVA caches
 * ({@link PhysicalMemory#withPageCaches}): pages and IOVA ranges are recycled at once by the
 * thread that freed them, and every guarantee still holds.
 */
class PerCpuCachesSharingTest {
    private static final long BASE = 0x8_0000_0000L;
    private static final long PAGE = 0x1000;
    private static final int SIZE = 0x4000;

    private final PhysicalMemory memory = PhysicalMemory.withPageCaches(BASE, 64L << 20, 4096);
    private final DmaSharing sharing = new DmaSharing(memory);

    private IommuDomain domain(String name) {
        Iommu unit = IommuBackends.find(TwoLevelBackend.NAME)
                .create(IommuConfig.builder("two-level-4k").name(name).build(), memory);
        IommuDomain d = unit.createDomain();
        unit.device(0).attach(d);
        return d;
    }

    /** Shares, checks and closes {@code rounds} buffers into {@code domains}; returns the addresses seen. */
    private static List<Long> shareRounds(DmaSharing sharing, List<IommuDomain> domains, int rounds, int seed) {
        List<Long> pas = new ArrayList<>();
        byte[] secret = new byte[SIZE];
        for (int i = 0; i < SIZE; i++) {
            secret[i] = (byte) (i * 7 + seed + 1);
        }
        for (int r = 0; r < rounds; r++) {
            try (SharedBuffer b = sharing.allocate(SIZE, domains)) {
                assertThat(b.read(0, SIZE))
                        .as(
                                "round %d: a new buffer reads zero, though its pages were"
                                        + " another buffer's a moment ago",
                                r)
                        .isEqualTo(new byte[SIZE]);
                for (IommuDomain d : domains) {
                    for (long o = 0; o < b.length(); o += PAGE) {
                        Translation t = d.iommu().walk(0, b.iova(d) + o).orElse(null);
                        assertThat(t)
                                .as("round %d: walk of %s in %s", r, Hex.of(b.iova(d) + o), d)
                                .isNotNull();
                        assertThat(t.pa()).isEqualTo(b.physicalAddress(o));
                    }
                }
                b.write(0, secret);
                pas.add(b.physicalAddress(0));
            }
        }
        return pas;
    }

    @Test
    void aClosedBuffersPagesComeBackZeroedToTheSameThreadsNextBuffer() {
        List<IommuDomain> domains = List.of(domain("a"), domain("b"));
        List<Long> pas = shareRounds(sharing, domains, 3, 0);
        assertThat(pas)
                .as("the per-CPU list hands the freed block straight back")
                .containsOnly(pas.get(0));
        assertThat(memory.allocator().usage().bufferBytes()).isZero();
        for (IommuDomain d : domains) {
            assertThat(d.iovaSpace().allocatedBytes()).isZero();
        }
    }

    @Test
    void twoThreadsSharingIntoOwnAndCommonDomainsLeakNothing() throws Exception {
        IommuDomain common = domain("common");
        int threads = 2;
        int rounds = 200 * Integer.getInteger("dmashare.test.scale", 1);
        List<List<IommuDomain>> own = new ArrayList<>();
        for (int t = 0; t < threads; t++) {
            own.add(List.of(domain("own" + t), common));
        }
        CountDownLatch start = new CountDownLatch(1);
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        try {
            List<Future<List<Long>>> results = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                List<IommuDomain> domains = own.get(t);
                int seed = t;
                results.add(pool.submit(() -> {
                    start.await();
                    return shareRounds(sharing, domains, rounds, seed);
                }));
            }
            start.countDown();
            for (Future<List<Long>> f : results) {
                assertThat(f.get(120, TimeUnit.SECONDS)).hasSize(rounds);
            }
        } finally {
            pool.shutdownNow();
        }
        PageAllocator allocator = memory.allocator();
        assertThat(allocator.usage().bufferBytes())
                .as("every buffer page came back")
                .isZero();
        assertThat(allocator.allocatedBlocks()).allMatch(b -> b.use() == PageUse.PAGE_TABLE);
        assertThat(common.iovaSpace().allocatedBytes()).isZero();
        for (List<IommuDomain> domains : own) {
            assertThat(domains.get(0).iovaSpace().allocatedBytes()).isZero();
        }
        allocator.drainCaches();
        assertThat(allocator.usage().freeBytes() + allocator.usage().tableBytes())
                .isEqualTo(memory.size());
    }
}
