package org.dmashare.it.reliability;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import java.util.function.Supplier;
import java.util.stream.Stream;
import org.dmashare.DmaShareException;
import org.dmashare.dart.DartBackend;
import org.dmashare.dart.DartDump;
import org.dmashare.dart.DartFirmware;
import org.dmashare.dart.DartIommu;
import org.dmashare.dart.DartVariant;
import org.dmashare.iommu.IommuConfig;
import org.dmashare.iommu.IommuDomain;
import org.dmashare.iommu.Prot;
import org.dmashare.iommu.support.PagingDomain;
import org.dmashare.it.rig.Rig;
import org.dmashare.memory.FailureInjector;
import org.dmashare.memory.FailureInjector.Point;
import org.dmashare.memory.PageUse;
import org.dmashare.memory.PhysicalMemory;
import org.dmashare.sharing.DmaSharing;
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
 * fail-nth, as iommufd's selftest does it: every multi-step operation is run with the k-th event
 * at a failure point (page allocation, table-page allocation, IOVA allocation, map) made to fail,
 * for k = 1, 2, ... until the operation succeeds; after each failed run the page allocator, every
 * IOVA allocator, every page table and, on a locked DART, the firmware's root table and the
 * stream registers are exactly as before.
 *
 * <p>This extends {@code sharing.DmaSharingRollbackTest} (three-domain allocate, identical IOVA,
 * late share and import on three trios) with: allocation into 1 to 4 domains; the locked-DART
 * table install (the driver's root entries copied into the firmware's root table on flush) for
 * allocate, identical allocate, late share and import; and {@link DartBackend#restore} of a locked
 * DART, which claims the firmware's table pages.
 *
 * <p><b>Close and unshare cannot fail.</b> DESIGN says destroy never fails: they unmap only whole
 * mappings they made (never cutting a block, so no table page is allocated), flush and free. There
 * is no failure to inject, so "fail-nth of close" is proven the other way round:
 * {@link #closeAndUnshareConsultNoFailurePoint} arms every point at its first event and shows that
 * close and unshare consult none of them and still return everything.
 */
class FailNthTest {
    static final long FB_IOVA = 0x1000_0000L;
    static final long FB_SIZE = 0x40_0000L;
    private static final AtomicLong CASES = new AtomicLong();
    private static final AtomicLong UNWOUND = new AtomicLong();
    private static final AtomicLong EVENTS_TRIED = new AtomicLong();

    /** A rig whose domain 0 is a paging domain on a DART that the firmware left locked with a framebuffer mapped. */
    static final class LockedRig {
        final Rig rig;
        final DartIommu dart;

        LockedRig(String lockedVariant, String... others) {
            rig = new Rig(64L << 20, 4096);
            long fb = rig.memory.allocator().allocate(FB_SIZE, PageUse.BUFFER);
            rig.memory.fill(fb, FB_SIZE, (byte) 0xFB);
            DartDump firmware = DartFirmware.of(DartVariant.of(lockedVariant), rig.memory)
                    .map(0, FB_IOVA, fb, FB_SIZE, Prot.READ_WRITE)
                    .dump();
            dart = new DartBackend()
                    .restore(
                            firmware,
                            IommuConfig.builder(lockedVariant)
                                    .name("locked-" + lockedVariant)
                                    .option("locked", "true")
                                    .build(),
                            rig.memory);
            IommuDomain d = dart.createDomain();
            dart.device(0).attach(d);
            rig.domains.add(d);
            for (String o : others) {
                rig.addDomain(o, 0);
            }
        }

        long firmwareRoot() {
            return dart.decodeTtbr(dart.ttbrs(0)[0]);
        }
    }

    /** Everything a failed run must leave as it was, the firmware's root table and registers included. */
    record Snapshot(Rig.State state, String firmwareRoot, String registers) {}

    static Snapshot snapshot(Rig rig, DartIommu locked) {
        if (locked == null) {
            return new Snapshot(rig.state(), "", "");
        }
        long root = locked.decodeTtbr(locked.ttbrs(0)[0]);
        // The driver's root entries copied into the firmware's table follow the domain's own root
        // entries, which live as long as the tables they point at: under io-pgtable-dart's lifetime
        // until the domain is freed, so a failed run may leave one that maps nothing. Such copies
        // are left out (a copy that differs from the domain's entry is not, and shows).
        IommuDomain d = rig.domains.get(0);
        long domainRoot = d.isClosed() ? -1 : ((PagingDomain) d).table().rootPa();
        StringBuilder own = new StringBuilder();
        for (int i = 0; i < 0x4000 / 8; i++) {
            long pte = rig.memory.readLong(root + 8L * i);
            boolean copy = domainRoot >= 0 && pte != 0 && pte == rig.memory.readLong(domainRoot + 8L * i);
            if (pte != 0 && !copy) {
                own.append(i).append('=').append(Long.toHexString(pte)).append(' ');
            }
        }
        return new Snapshot(rig.state(), own.toString(), Arrays.toString(locked.ttbrs(0)) + " tcr " + locked.tcr(0));
    }

    /**
     * Runs {@code op} with the k-th event at {@code point} failing for k = 1, 2, ... until it
     * succeeds; after each failure the snapshot must equal the one before. Returns the failing runs.
     */
    static <T> int failEveryNth(
            String what,
            Supplier<Snapshot> snap,
            PhysicalMemory memory,
            Point point,
            Supplier<T> op,
            Consumer<T> undo) {
        FailureInjector failures = memory.failures();
        int failed = 0;
        for (int k = 1; k < 2000; k++) {
            Snapshot before = snap.get();
            failures.failNth(point, k);
            T result;
            try {
                result = op.get();
            } catch (DmaShareException e) {
                assertThat(failures.pending(point))
                        .as("%s: run %d failed for another reason than the injected one: %s", what, k, e)
                        .isFalse();
                failures.clear();
                assertThat(snap.get())
                        .as("%s: state after failing at %s #%d (%s)", what, point, k, e.getMessage())
                        .isEqualTo(before);
                failed++;
                continue;
            } finally {
                failures.clear();
            }
            undo.accept(result);
            CASES.incrementAndGet();
            UNWOUND.addAndGet(failed);
            EVENTS_TRIED.addAndGet(k);
            System.out.printf("fail-nth %s at %s: %d failing runs unwound, success at k=%d%n", what, point, failed, k);
            return failed;
        }
        throw new AssertionError(what + " never succeeded");
    }

    static final String[] FOUR = {"apple-dart:t8020", "lpae-4k", "flat:flat-64k", "apple-dart:t8110"};

    static Stream<Arguments> domainCountsAndPoints() {
        return Stream.of(1, 2, 3, 4).flatMap(n -> Stream.of(Point.values()).map(p -> Arguments.of(n, p)));
    }

    @ParameterizedTest(name = "{0} domains, {1}")
    @MethodSource("domainCountsAndPoints")
    void allocationIntoNDomainsUnwindsWhereverItFails(int n, Point point) {
        Rig rig = new Rig(64L << 20, 4096, FOUR);
        List<IommuDomain> targets = rig.domains.subList(0, n);
        Rig.State initial = rig.state();
        int failed = failEveryNth(
                "allocate into " + n + " domains",
                () -> snapshot(rig, null),
                rig.memory,
                point,
                () -> rig.sharing.allocate(0x2_4000, targets),
                SharedBuffer::close);
        if (point == Point.IOVA_ALLOCATION || point == Point.MAP || point == Point.PAGE_ALLOCATION) {
            assertThat(failed)
                    .as("each domain (or block) consults %s at least once", point)
                    .isGreaterThanOrEqualTo(point == Point.PAGE_ALLOCATION ? 1 : n);
        }
        assertThat(rig.state()).isEqualTo(initial);
    }

    /**
     * Importing a live buffer's export into 1..4 domains: every failing run leaves every domain,
     * IOVA allocator and the page allocator as before and drops the reference it took, so closing
     * the owner and the lease at the end returns every page.
     */
    @ParameterizedTest(name = "{0} domains, {1}")
    @MethodSource("domainCountsAndPoints")
    void importOfAnExportIntoNDomainsUnwindsWhereverItFailsAndDropsItsPin(int n, Point point) {
        Rig rig = new Rig(64L << 20, 4096, FOUR);
        Rig.State initial = rig.state();
        SharedBuffer owner = rig.sharing.allocate(
                0x3_0000,
                rig.domains.subList(0, 1),
                ShareOptions.builder().alignment(0x1_0000).build());
        PageLease lease = owner.export();
        List<IommuDomain> targets = rig.domains.subList(0, n);
        int failed = failEveryNth(
                "import of an export into " + n + " domains",
                () -> snapshot(rig, null),
                rig.memory,
                point,
                () -> rig.sharing.importScatterList(lease, owner.blocks(), targets, ShareOptions.DEFAULTS),
                SharedBuffer::close);
        if (point == Point.IOVA_ALLOCATION || point == Point.MAP) {
            assertThat(failed).isGreaterThanOrEqualTo(n);
        }
        owner.close();
        lease.close();
        assertThat(rig.state()).as("no failed import kept a pin").isEqualTo(initial);
    }

    /** With IOVA quarantine on and ranges held, a failing allocation changes neither the quarantine nor anything else. */
    @ParameterizedTest(name = "{0} domains, {1}")
    @MethodSource("domainCountsAndPoints")
    void allocationWithQuarantinedRangesUnwindsWithoutTouchingTheQuarantine(int n, Point point) {
        Rig rig = new Rig(64L << 20, 4096, FOUR);
        DmaSharing sharing = new DmaSharing(rig.memory, 2);
        for (int i = 0; i < 3; i++) {
            sharing.allocate(0x4_0000, rig.domains).close();
        }
        List<IommuDomain> targets = rig.domains.subList(0, n);
        failEveryNth(
                "allocate into " + n + " domains with quarantined ranges",
                () -> new Snapshot(rig.state(), quarantined(sharing, rig.domains), ""),
                rig.memory,
                point,
                () -> sharing.allocate(
                        0x2_4000,
                        targets,
                        ShareOptions.builder().identicalIova(n % 2 == 0).build()),
                SharedBuffer::close);
        sharing.drainIovaQuarantine();
    }

    private static String quarantined(DmaSharing sharing, List<IommuDomain> domains) {
        StringBuilder out = new StringBuilder();
        for (IommuDomain d : domains) {
            out.append(sharing.quarantinedRanges(d)).append(' ');
        }
        return out.toString();
    }

    static Stream<Arguments> lockedVariantsAndPoints() {
        return Stream.of("t8020", "t6000", "t8110")
                .flatMap(v -> Stream.of(Point.values()).map(p -> Arguments.of(v, p)));
    }

    @ParameterizedTest(name = "locked {0}, {1}")
    @MethodSource("lockedVariantsAndPoints")
    void allocationIntoALockedDartUnwindsTheFirmwareTableInstall(String variant, Point point) {
        LockedRig l = new LockedRig(variant, "lpae-4k", "apple-dart:t6000");
        // a resident buffer whose root entry the failing runs share (and must not remove on unwinding)
        SharedBuffer resident = l.rig.sharing.allocate(0x8000, l.rig.domains);
        resident.write(0, Rig.pattern(0x8000, 7));
        Snapshot initial = snapshot(l.rig, l.dart);
        for (boolean identical : new boolean[] {false, true}) {
            ShareOptions opts = ShareOptions.builder().identicalIova(identical).build();
            failEveryNth(
                    "allocate into locked " + variant + (identical ? " (identical IOVA)" : ""),
                    () -> snapshot(l.rig, l.dart),
                    l.rig.memory,
                    point,
                    () -> {
                        SharedBuffer b = l.rig.sharing.allocate(0x3_0000, l.rig.domains, opts);
                        // the install really happened: the driver's root entry is in the firmware's table
                        long iova = b.iova(l.rig.domain(0));
                        assertThat(l.dart.device(0).read(iova, 1)).hasSize(1);
                        return b;
                    },
                    SharedBuffer::close);
        }
        assertThat(snapshot(l.rig, l.dart)).isEqualTo(initial);
        assertThat(l.dart.device(0).read(FB_IOVA, 4))
                .as("the firmware's framebuffer survives")
                .containsOnly((byte) 0xFB);
        assertThat(l.dart.device(0).read(resident.iova(l.rig.domain(0)), 0x8000))
                .as("the resident buffer survives")
                .isEqualTo(Rig.pattern(0x8000, 7));
        resident.close();
    }

    @ParameterizedTest(name = "locked {0}, {1}")
    @MethodSource("lockedVariantsAndPoints")
    void lateSharingIntoALockedDartUnwindsTheFirmwareTableInstall(String variant, Point point) {
        LockedRig l = new LockedRig(variant, "lpae-4k", "flat:flat-64k");
        IommuDomain locked = l.rig.domain(0);
        ShareOptions opts = ShareOptions.builder().futureDomains(locked).build();
        try (SharedBuffer b = l.rig.sharing.allocate(0x5_0000, l.rig.domains.subList(1, 3), opts)) {
            Snapshot before = snapshot(l.rig, l.dart);
            int failed = failEveryNth(
                    "late share into locked " + variant,
                    () -> snapshot(l.rig, l.dart),
                    l.rig.memory,
                    point,
                    () -> b.shareWith(locked),
                    iova -> b.unshare(locked));
            if (point == Point.IOVA_ALLOCATION || point == Point.MAP) {
                assertThat(failed).isGreaterThanOrEqualTo(1);
            }
            assertThat(snapshot(l.rig, l.dart)).isEqualTo(before);
        }
    }

    @ParameterizedTest(name = "locked {0}, {1}")
    @MethodSource("lockedVariantsAndPoints")
    void importIntoALockedDartUnwindsTheFirmwareTableInstall(String variant, Point point) {
        LockedRig l = new LockedRig(variant, "lpae-16k", "apple-dart:t8020");
        PageLease lease = l.rig.sharing.allocatePages(4 * 0x8000, 0x8000);
        ScatterList list = Rig.lentSegments(lease, 0x8000, 3);
        Snapshot initial = snapshot(l.rig, l.dart);
        int failed = failEveryNth(
                "import into locked " + variant,
                () -> snapshot(l.rig, l.dart),
                l.rig.memory,
                point,
                () -> l.rig.sharing.importScatterList(lease, list, l.rig.domains, ShareOptions.DEFAULTS),
                SharedBuffer::close);
        if (point == Point.IOVA_ALLOCATION || point == Point.MAP) {
            assertThat(failed).isGreaterThanOrEqualTo(3);
        }
        assertThat(snapshot(l.rig, l.dart)).isEqualTo(initial);
    }

    @ParameterizedTest(name = "restore locked {0}, {1}")
    @MethodSource("lockedVariantsAndPoints")
    void restoringALockedDartClaimsTheFirmwareTablesAtomically(String variant, Point point) {
        PhysicalMemory source = PhysicalMemory.create(Rig.RAM_BASE, 64L << 20, 4096);
        long fb = source.allocator().allocate(FB_SIZE, PageUse.BUFFER);
        DartDump dump = DartFirmware.of(DartVariant.of(variant), source)
                .map(0, FB_IOVA, fb, FB_SIZE, Prot.READ)
                .map(1, 0x4000, fb, 0x8000, Prot.READ_WRITE)
                .dump();
        PhysicalMemory fresh = PhysicalMemory.create(Rig.RAM_BASE, 64L << 20, 4096);
        IommuConfig config = IommuConfig.builder(variant)
                .name("restored")
                .option("locked", "true")
                .build();
        Supplier<Snapshot> state = () -> {
            StringBuilder pages = new StringBuilder();
            for (long pa : dump.memory().keySet()) {
                pages.append(HexFormat.of().formatHex(fresh.read(pa, 0x4000))).append(',');
            }
            // No domain yet: every block (claimed firmware table pages included) and every table byte must match.
            return new Snapshot(
                    new Rig.State(
                            fresh.allocator().allocatedBlocks(),
                            fresh.allocator().usage().bufferBytes(),
                            Map.of(),
                            Map.of(),
                            fresh.allocator().usage().tableBytes()),
                    pages.toString(),
                    "");
        };
        Snapshot initial = state.get();
        failEveryNth(
                "restore of locked " + variant,
                state,
                fresh,
                point,
                () -> new DartBackend().restore(dump, config, fresh),
                dart -> {
                    assertThat(dart.isLocked()).isTrue();
                    assertThat(dart.walk(0, FB_IOVA)).isPresent();
                });
        assertThat(initial.state().blocks()).isEmpty();
        for (long pa : dump.memory().keySet()) {
            assertThat(fresh.allocator().isAllocated(pa, 0x4000))
                    .as("firmware table page %s claimed", pa)
                    .isTrue();
        }
    }

    static Stream<Arguments> setsWithLocked() {
        return Stream.of(
                Arguments.of((Object) new String[] {"lpae-4k", "lpae-16k", "lpae-64k"}),
                Arguments.of((Object) new String[] {"apple-dart:t8020", "apple-dart:t6000", "apple-dart:t8110"}),
                Arguments.of((Object) new String[] {"apple-dart:t8020", "lpae-4k", "flat:flat-64k"}),
                Arguments.of((Object) new String[] {"locked:t8020", "lpae-4k", "apple-dart:t8110"}));
    }

    /**
     * Close and unshare have no failure to inject: with every point armed to fail at its first
     * event, they consult none, succeed, and return every page, IOVA and table.
     */
    @ParameterizedTest
    @MethodSource("setsWithLocked")
    void closeAndUnshareConsultNoFailurePoint(String[] set) {
        Rig rig;
        DartIommu locked = null;
        if (set[0].startsWith("locked:")) {
            LockedRig l = new LockedRig(set[0].substring(7), set[1], set[2]);
            rig = l.rig;
            locked = l.dart;
        } else {
            rig = new Rig(64L << 20, 4096, set);
        }
        DartIommu dart = locked;
        Snapshot initial = snapshot(rig, dart);
        FailureInjector failures = rig.memory.failures();
        for (boolean identical : new boolean[] {false, true}) {
            // blocks and pages: 2 MiB + 20 KiB maps 2 MiB blocks where the format has them
            SharedBuffer a = rig.sharing.allocate(
                    0x20_5000,
                    rig.domains,
                    ShareOptions.builder().identicalIova(identical).build());
            // (late-shared per-domain IOVA: an identical range of the first two may lie outside a third's space)
            SharedBuffer b = rig.sharing.allocate(
                    0x5000,
                    rig.domains.subList(0, 2),
                    ShareOptions.builder().futureDomains(rig.domain(2)).build());
            b.shareWith(rig.domain(2));
            List<Long> iovas = new ArrayList<>();
            for (SharedBuffer.Mapping m : a.mappings()) {
                iovas.add(m.iova());
                Rig.device(m.domain()).read(m.iova(), 16); // warm the IOTLB
            }
            for (Point p : Point.values()) {
                failures.failNth(p, 1);
            }
            b.unshare(rig.domain(1));
            b.close();
            a.close();
            a.close();
            for (Point p : Point.values()) {
                assertThat(failures.events(p))
                        .as("events at %s during unshare and close", p)
                        .isZero();
                assertThat(failures.pending(p))
                        .as("%s still armed: never consulted", p)
                        .isTrue();
            }
            failures.clear();
            assertThat(snapshot(rig, dart)).as("everything returned").isEqualTo(initial);
            for (int i = 0; i < rig.domains.size(); i++) {
                IommuDomain d = rig.domain(i);
                long iova = iovas.get(i);
                assertThat(d.iommu().walk(0, iova))
                        .as("nothing reachable in %s after close", d)
                        .isEmpty();
            }
            CASES.incrementAndGet();
        }
    }

    /** Closing a buffer whose domain was closed first skips that domain and still fails nowhere. */
    @Test
    void closeAfterADomainWasClosedStillReturnsThePages() {
        Rig rig = new Rig(64L << 20, 4096, "apple-dart:t8020", "lpae-4k");
        long bufferBytes = rig.memory.allocator().usage().bufferBytes();
        SharedBuffer b = rig.sharing.allocate(0x9000, rig.domains);
        rig.domain(1).close();
        for (Point p : Point.values()) {
            rig.memory.failures().failNth(p, 1);
        }
        b.close();
        for (Point p : Point.values()) {
            assertThat(rig.memory.failures().pending(p)).isTrue();
        }
        rig.memory.failures().clear();
        assertThat(rig.memory.allocator().usage().bufferBytes()).isEqualTo(bufferBytes);
        assertThat(rig.domain(0).iovaSpace().liveRanges()).isZero();
        assertThat(rig.sharing.liveBuffers()).isZero();
    }

    @AfterAll
    static void summary() {
        Campaign.summary(
                "fail-nth",
                "%,d operation/point cases, %,d failing runs unwound with the state restored"
                        + " (%,d injection points tried)",
                CASES.get(),
                UNWOUND.get(),
                EVENTS_TRIED.get());
    }
}
