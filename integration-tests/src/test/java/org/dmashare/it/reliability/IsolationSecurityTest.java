package org.dmashare.it.reliability;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;
import java.util.function.Function;
import java.util.stream.Stream;
import org.dmashare.UnsafeScatterListException;
import org.dmashare.dart.DartDump;
import org.dmashare.dart.DartIommu;
import org.dmashare.iommu.Access;
import org.dmashare.iommu.DeviceFaultException;
import org.dmashare.iommu.IommuDomain;
import org.dmashare.iommu.IommuFault;
import org.dmashare.iommu.Prot;
import org.dmashare.iommu.Translation;
import org.dmashare.it.rig.Rig;
import org.dmashare.memory.PageAllocator;
import org.dmashare.memory.PageUse;
import org.dmashare.sharing.PageLease;
import org.dmashare.sharing.ScatterList;
import org.dmashare.sharing.ShareOptions;
import org.dmashare.sharing.SharedBuffer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Isolation and security, one test per property, each on generic, DART and mixed domain trios: a
 * device reaches nothing outside the buffers shared with its domain; after close no device reaches
 * the pages, even through a warm IOTLB; a read-only mapping refuses device writes; no path of the
 * helper over-exposes a byte; an unsafe scatter list is refused on import; a DART dump holds table
 * pages only.
 */
class IsolationSecurityTest {
    private static long probes;
    private static long cases;

    static Stream<Arguments> trios() {
        return Rig.trios();
    }

    private static void expectFault(IommuDomain d, long iova, Access access, String why) {
        Throwable t = null;
        try {
            if (access == Access.WRITE) {
                Rig.device(d).write(iova, new byte[] {0x5A});
            } else {
                Rig.device(d).read(iova, 1);
            }
        } catch (Throwable e) {
            t = e;
        }
        assertThat(t)
                .as("%s: %s of IOVA 0x%x through %s must fault", why, access, iova, d)
                .isInstanceOf(DeviceFaultException.class);
        d.iommu().clearFaults();
        probes++;
    }

    private static SharedBuffer mappedAt(List<SharedBuffer> live, IommuDomain d, long iova) {
        for (SharedBuffer b : live) {
            if (b.isMappedIn(d) && iova >= b.iova(d) && iova < b.iova(d) + b.length()) {
                return b;
            }
        }
        return null;
    }

    @ParameterizedTest
    @MethodSource("trios")
    void deviceReachesNothingOutsideTheBuffersSharedWithItsDomain(String[] set) {
        Rig rig = new Rig(64L << 20, 4096, set);
        ShareOptions future =
                ShareOptions.builder().futureDomains(rig.domain(2)).build();
        SharedBuffer a = rig.sharing.allocate(0x1_1000, List.of(rig.domain(0), rig.domain(1)), future);
        SharedBuffer b = rig.sharing.allocate(0x3_0000, List.of(rig.domain(1), rig.domain(2)));
        SharedBuffer c = rig.sharing.allocate(0x1000, List.of(rig.domain(2)));
        SharedBuffer gone = rig.sharing.allocate(0x8000, rig.domains);
        a.shareWith(rig.domain(2));
        a.unshare(rig.domain(1));
        gone.close();
        List<SharedBuffer> live = List.of(a, b, c);
        Random random = new Random(Campaign.seed("isolation"));
        for (IommuDomain d : rig.domains) {
            Rig.assertNoOverExposure(d, live);
            List<Long> candidates = new ArrayList<>();
            for (SharedBuffer x : List.of(a, b, c, gone)) {
                for (SharedBuffer.Mapping m : x.isClosed() ? List.<SharedBuffer.Mapping>of() : x.mappings()) {
                    candidates.add(m.iova()); // other domains' IOVAs of the same or other buffers
                    candidates.add(m.iova() - 1);
                    candidates.add(m.iova() + x.length());
                    candidates.add(m.iova() + x.length() - 1);
                }
            }
            for (int i = 0; i < 500; i++) {
                long span = d.iovaSpace().end() - d.iovaSpace().start();
                candidates.add(d.iovaSpace().start() + (random.nextLong() & Long.MAX_VALUE) % span);
            }
            for (long iova : candidates) {
                if (iova < 0) {
                    continue;
                }
                SharedBuffer owner = mappedAt(live, d, iova);
                if (owner == null) {
                    expectFault(d, iova, Access.READ, "outside every buffer shared with the domain");
                    expectFault(d, iova, Access.WRITE, "outside every buffer shared with the domain");
                } else {
                    Translation t = d.iommu().walk(0, iova).orElseThrow();
                    assertThat(t.pa() + (iova - t.iova()))
                            .as("IOVA 0x%x in %s reaches its own buffer's byte", iova, d)
                            .isEqualTo(owner.physicalAddress(iova - owner.iova(d)));
                }
            }
        }
        assertThat(a.isMappedIn(rig.domain(1))).isFalse();
        cases++;
    }

    @ParameterizedTest
    @MethodSource("trios")
    void afterCloseNoDeviceReachesThePagesEvenThroughAWarmIotlb(String[] set) {
        Rig rig = new Rig(64L << 20, 4096, set);
        long bufferBytes = rig.memory.allocator().usage().bufferBytes();
        SharedBuffer b = rig.sharing.allocate(0x2_1000, rig.domains);
        List<SharedBuffer.Mapping> mappings = b.mappings();
        for (SharedBuffer.Mapping m : mappings) {
            for (long o = 0; o < b.length(); o += 0x1000) {
                Rig.device(m.domain()).read(m.iova() + o, 1); // every translation now cached in the IOTLB
            }
            assertThat(m.domain().iommu().iotlbSize())
                    .as("IOTLB of %s is warm", m.domain())
                    .isPositive();
        }
        ScatterList blocks = b.blocks();
        b.close();
        assertThat(rig.memory.allocator().usage().bufferBytes())
                .as("pages returned")
                .isEqualTo(bufferBytes);
        for (ScatterList.Segment s : blocks) {
            assertThat(rig.memory.allocator().isAllocated(s.pa(), s.length()))
                    .as("block %s freed", s)
                    .isFalse();
        }
        for (SharedBuffer.Mapping m : mappings) {
            for (long o = 0; o < b.length(); o += 0x1000) {
                expectFault(m.domain(), m.iova() + o, Access.READ, "closed buffer, warm IOTLB");
            }
            expectFault(m.domain(), m.iova(), Access.WRITE, "closed buffer");
        }
        // the pages go to someone else, who writes a secret: the old devices still reach nothing
        SharedBuffer next = rig.sharing.allocate(0x2_1000, List.of(rig.domain(0)));
        next.write(0, Rig.pattern((int) next.length(), 99));
        for (SharedBuffer.Mapping m : mappings) {
            if (m.domain() != rig.domain(0) || next.iova(rig.domain(0)) != m.iova()) {
                expectFault(m.domain(), m.iova(), Access.READ, "closed buffer, pages reused");
            }
        }
        next.close();
        cases++;
    }

    @ParameterizedTest
    @MethodSource("trios")
    void readOnlyMappingRefusesDeviceWrites(String[] set) {
        Rig rig = new Rig(64L << 20, 4096, set);
        SharedBuffer b = rig.sharing.allocate(
                0x2_0000, rig.domains, ShareOptions.builder().prot(Prot.READ).build());
        byte[] content = Rig.pattern((int) b.length(), 5);
        b.write(0, content);
        for (SharedBuffer.Mapping m : b.mappings()) {
            for (long o = 0; o < b.length(); o += m.domain().granule()) {
                long iova = m.iova() + o;
                assertThatThrownBy(() -> Rig.device(m.domain()).write(iova, new byte[] {1, 2, 3, 4}))
                        .isInstanceOf(DeviceFaultException.class)
                        .satisfies(e -> assertThat(
                                        ((DeviceFaultException) e).fault().reason())
                                .isEqualTo(IommuFault.Reason.PERMISSION));
                probes++;
            }
            assertThat(m.domain().iommu().faults())
                    .allSatisfy(f -> assertThat(f.access()).isEqualTo(Access.WRITE));
            m.domain().iommu().clearFaults();
            assertThat(Rig.device(m.domain()).read(m.iova(), (int) b.length()))
                    .as("reads still work")
                    .isEqualTo(content);
        }
        assertThat(b.read(0, (int) b.length()))
                .as("no refused write changed a byte")
                .isEqualTo(content);
        b.close();
        cases++;
    }

    /** Every way the helper can create a mapping, on every trio; after each, no leaf of any domain over-exposes. */
    @ParameterizedTest
    @MethodSource("trios")
    void noPathOfTheHelperOverExposesAByte(String[] set) {
        for (int pageSize : new int[] {4096, 16384}) {
            Rig rig = new Rig(64L << 20, pageSize, set);
            // fragment memory so that blocks come from many places
            List<Long> holes = new ArrayList<>();
            for (int i = 0; i < 64; i++) {
                holes.add(rig.memory.allocator().allocate(0x1_0000, PageUse.BUFFER));
            }
            for (int i = 0; i < holes.size(); i += 2) {
                rig.memory.allocator().free(holes.get(i), 0x1_0000);
            }
            List<SharedBuffer> live = new ArrayList<>();
            List<Function<Rig, SharedBuffer>> paths = List.of(
                    r -> r.sharing.allocate(1, r.domains),
                    r -> r.sharing.allocate(0x1001, r.domains.subList(0, 2)),
                    r -> r.sharing.allocate(
                            0x5_4321,
                            r.domains,
                            ShareOptions.builder().identicalIova(true).build()),
                    r -> r.sharing.allocate(0x20_0001, r.domains),
                    r -> r.sharing.allocate(
                            0x3000,
                            r.domains,
                            ShareOptions.builder().alignment(0x10_0000).build()),
                    r -> {
                        SharedBuffer x = r.sharing.allocate(
                                0x6000,
                                r.domains.subList(0, 1),
                                ShareOptions.builder()
                                        .futureDomains(r.domain(1), r.domain(2))
                                        .build());
                        x.shareWith(r.domain(2));
                        x.shareWith(r.domain(1));
                        x.unshare(r.domain(0));
                        return x;
                    },
                    r -> {
                        long a = r.sharing.alignment(r.domains, ShareOptions.DEFAULTS);
                        try (PageLease lease = r.sharing.allocatePages(4 * a, a)) {
                            return r.sharing.importScatterList(
                                    lease, Rig.lentSegments(lease, a, 3), r.domains, ShareOptions.DEFAULTS);
                        }
                    });
            for (Function<Rig, SharedBuffer> path : paths) {
                live.add(path.apply(rig));
                for (SharedBuffer x : live) {
                    Rig.assertAligned(x);
                    for (SharedBuffer.Mapping m : x.mappings()) {
                        Rig.assertContiguous(x, m.domain());
                    }
                }
                for (IommuDomain d : rig.domains) {
                    Rig.assertNoOverExposure(d, live);
                }
                cases++;
            }
            live.remove(1).close();
            for (IommuDomain d : rig.domains) {
                Rig.assertNoOverExposure(d, live);
            }
        }
    }

    static Stream<Arguments> unsafeLists() {
        // segments as (offset from an A-aligned block, length) in units of 4 KiB; A = 64 KiB on the mixed trio
        return Stream.of(
                Arguments.of("address not aligned", new long[][] {{1, 16}}, 0),
                Arguments.of("length not a multiple", new long[][] {{0, 15}}, 0),
                Arguments.of("second segment short", new long[][] {{0, 16}, {0, 4}, {0, 16}}, 1),
                Arguments.of("last segment misplaced", new long[][] {{0, 16}, {0, 16}, {8, 8}}, 2),
                Arguments.of("CPU-page list (what dma_get_sgtable gives)", new long[][] {{0, 1}, {1, 1}, {2, 1}}, 0));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("unsafeLists")
    void unsafeScatterListIsRefusedOnImportNamingTheSegment(String name, long[][] segments, int bad) {
        Rig rig = new Rig(64L << 20, 4096, "apple-dart:t8020", "lpae-4k", "flat:flat-64k");
        long a = rig.sharing.alignment(rig.domains, ShareOptions.DEFAULTS);
        assertThat(a).isEqualTo(0x1_0000);
        PageLease lease = rig.sharing.allocatePages(segments.length * a, a);
        List<ScatterList.Segment> blocks = Rig.chop(lease, a);
        List<ScatterList.Segment> segs = new ArrayList<>();
        for (int i = 0; i < segments.length; i++) {
            long[] s = segments[i];
            segs.add(new ScatterList.Segment(blocks.get(i).pa() + s[0] * 0x1000, s[1] * 0x1000));
        }
        Rig.State before = rig.state();
        assertThatThrownBy(() ->
                        rig.sharing.importScatterList(lease, ScatterList.of(segs), rig.domains, ShareOptions.DEFAULTS))
                .isExactlyInstanceOf(UnsafeScatterListException.class)
                .hasMessageContaining("segment " + bad)
                .satisfies(e -> assertThat(((UnsafeScatterListException) e).segmentIndex())
                        .isEqualTo(bad));
        assertThat(rig.state()).isEqualTo(before);
        assertThat(rig.sharing.liveBuffers()).isZero();
        // the same memory as safe segments imports fine
        List<ScatterList.Segment> safe = new ArrayList<>();
        for (ScatterList.Segment s : segs) {
            safe.add(new ScatterList.Segment(s.pa() & -a, a));
        }
        rig.sharing
                .importScatterList(lease, ScatterList.of(safe), rig.domains, ShareOptions.DEFAULTS)
                .close();
        assertThatThrownBy(() -> rig.sharing.importScatterList(
                        lease,
                        ScatterList.of(new ScatterList.Segment(Rig.RAM_BASE + (1L << 30), a)),
                        rig.domains,
                        ShareOptions.DEFAULTS))
                .isExactlyInstanceOf(UnsafeScatterListException.class)
                .hasMessageContaining("outside memory");
        lease.close();
        cases++;
    }

    static Stream<Arguments> darts() {
        return Stream.of(
                Arguments.of("apple-dart:t8020"), Arguments.of("apple-dart:t6000"), Arguments.of("apple-dart:t8110"));
    }

    /**
     * A DART dump holds registers and table pages only: every page in it is a page-table page of
     * the allocator, and no buffer byte (a secret written into every buffer and into freed pages)
     * appears in it, also after a domain was closed and its table pages reused for buffers.
     */
    @ParameterizedTest
    @MethodSource("darts")
    void dumpNeverContainsMemoryOutsideTablePages(String dart) {
        Rig rig = new Rig(64L << 20, 4096, dart, "lpae-4k");
        DartIommu iommu = (DartIommu) rig.domain(0).iommu();
        // a second domain on another stream, used and then closed: its table pages go back to the allocator
        IommuDomain old = iommu.createDomain();
        iommu.device(1).attach(old);
        rig.sharing.allocate(0x4_0000, List.of(old)).close();
        old.close();
        List<SharedBuffer> live = new ArrayList<>();
        byte[] secret = "SECRET-BUFFER-BYTES!".getBytes(StandardCharsets.US_ASCII);
        for (int i = 0; i < 40; i++) {
            SharedBuffer b = rig.sharing.allocate(0x4000 * (1 + i % 5), rig.domains);
            for (long o = 0; o + secret.length <= b.length(); o += 0x400) {
                b.write(o, secret);
            }
            live.add(b);
        }
        for (int i = 0; i < live.size(); i += 3) {
            live.get(i).close();
        }
        DartDump dump = iommu.dump();
        assertThat(dump.memory()).isNotEmpty();
        List<PageAllocator.Block> blocks = rig.memory.allocator().allocatedBlocks();
        for (var page : dump.memory().entrySet()) {
            long pa = page.getKey();
            boolean table = blocks.stream()
                    .anyMatch(bl ->
                            bl.use() == PageUse.PAGE_TABLE && pa >= bl.pa() && pa + 0x4000 <= bl.pa() + bl.size());
            assertThat(table)
                    .as("dump page 0x%x is an allocated page-table page", pa)
                    .isTrue();
            assertThat(indexOf(page.getValue(), secret))
                    .as("dump page 0x%x holds no buffer bytes", pa)
                    .isNegative();
        }
        assertThat(dump.toJson()).doesNotContain(HexFormat.of().formatHex(secret));
        for (SharedBuffer b : live) {
            b.close();
        }
        cases++;
    }

    private static int indexOf(byte[] hay, byte[] needle) {
        outer:
        for (int i = 0; i + needle.length <= hay.length; i++) {
            for (int j = 0; j < needle.length; j++) {
                if (hay[i + j] != needle[j]) {
                    continue outer;
                }
            }
            return i;
        }
        return -1;
    }

    @Test
    void dumpOfADartWithNothingTranslatingHoldsNoPages() {
        Rig rig = new Rig(64L << 20, 4096, "apple-dart:t8020");
        DartIommu iommu = (DartIommu) rig.domain(0).iommu();
        iommu.device(0).detach();
        rig.domain(0).close();
        assertThat(iommu.dump().memory()).isEmpty();
        cases++;
    }

    @AfterAll
    static void summary() {
        Campaign.summary("isolation and security", "%,d cases, %,d device accesses proven to fault", cases, probes);
    }
}
