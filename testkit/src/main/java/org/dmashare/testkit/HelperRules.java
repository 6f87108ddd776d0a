package org.dmashare.testkit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.dmashare.testkit.DmaShareAssertions.assertThat;
import static org.dmashare.testkit.KitFixture.faults;
import static org.dmashare.testkit.KitFixture.pattern;
import static org.dmashare.testkit.KitFixture.refuses;
import static org.dmashare.testkit.KitFixture.rule;

import java.util.List;
import org.dmashare.Hex;
import org.dmashare.UnsafeScatterListException;
import org.dmashare.memory.FailureInjector;
import org.dmashare.memory.PageAllocator;
import org.dmashare.sharing.PageLease;
import org.dmashare.sharing.ScatterList;
import org.dmashare.sharing.ShareOptions;
import org.dmashare.sharing.SharedBuffer;
import org.dmashare.testkit.KitFixture.TwoUnits;
import org.junit.jupiter.api.Test;

/**
 * The kit's rules about the sharing helper on two units of this backend: HELPER-1 to HELPER-8,
 * each stated in {@link KitRule}. A topic of {@link IommuBackendConformanceKit}, which implements
 * it, so that its checks run, and report, under the backend author's test class; each check
 * reaches its fresh {@link KitFixture} through {@link #kit()}.
 */
public interface HelperRules extends KitTopic {

    /**
     * Checks {@link KitRule#HELPER_1}.
     */
    @Test
    @Checks(KitRule.HELPER_1)
    default void bufferIsContiguousAlignedAndContained() {
        KitFixture k = kit();
        TwoUnits u = k.twoUnits();
        long g = k.granule();
        for (long size : new long[] {1, 3 * g + 100, (1L << 20) + 4096}) {
            try (SharedBuffer b = u.sharing().allocate(size, List.of(u.first(), u.second()))) {
                assertThat(b.alignment())
                        .as(rule("A is at least the granule and the CPU page size"))
                        .isGreaterThanOrEqualTo(Math.max(g, k.memory().pageSize()));
                assertThat(b)
                        .as("buffer of " + Hex.size(size))
                        .isContiguousIn(u.first())
                        .isContiguousIn(u.second())
                        .isAligned()
                        .hasNoOverExposure();
            }
        }
    }

    /**
     * Checks {@link KitRule#HELPER_2}.
     */
    @Test
    @Checks(KitRule.HELPER_2)
    default void devicesSeeEachOthersWrites() {
        KitFixture k = kit();
        TwoUnits u = k.twoUnits();
        long g = k.granule();
        try (SharedBuffer b = u.sharing().allocate(3 * g, List.of(u.first(), u.second()))) {
            byte[] data = pattern((int) b.length(), 3);
            b.write(0, data);
            assertThat(k.iommu().device(0).read(b.iova(u.first()), data.length))
                    .as(rule("a device reads the CPU's bytes through its IOVA"))
                    .isEqualTo(data);
            byte[] reply = pattern(64, 77);
            u.otherUnit().device(0).write(b.iova(u.second()) + g, reply);
            assertThat(k.iommu().device(0).read(b.iova(u.first()) + g, reply.length))
                    .as(rule("devices on two domains see each other's writes"))
                    .isEqualTo(reply);
            assertThat(b.read(g, reply.length))
                    .as(rule("the CPU sees device writes"))
                    .isEqualTo(reply);
        }
    }

    /**
     * Checks {@link KitRule#HELPER_3}.
     */
    @Test
    @Checks(KitRule.HELPER_3)
    default void closeLeavesNothingReachable() {
        KitFixture k = kit();
        TwoUnits u = k.twoUnits();
        long bufferBytes = k.memory().allocator().usage().bufferBytes();
        SharedBuffer b = u.sharing().allocate(2 * k.granule(), List.of(u.first(), u.second()));
        long iovaFirst = b.iova(u.first());
        long iovaSecond = b.iova(u.second());
        long length = b.length();
        k.iommu().device(0).read(iovaFirst, (int) length);
        u.otherUnit().device(0).read(iovaSecond, (int) length);
        b.close();
        b.close();
        assertThat(u.first()).as(rule("close unmaps from every domain")).doesNotTranslateAnyOf(iovaFirst, length);
        assertThat(u.second()).as(rule("close unmaps from every domain")).doesNotTranslateAnyOf(iovaSecond, length);
        faults(
                "close flushes every IOTLB before freeing the pages",
                "a device read after close",
                () -> k.iommu().device(0).read(iovaFirst, 1));
        faults(
                "close flushes every IOTLB before freeing the pages",
                "a device read after close",
                () -> u.otherUnit().device(0).read(iovaSecond, 1));
        assertThat(k.memory().allocator().usage().bufferBytes())
                .as(rule("close returns the pages"))
                .isEqualTo(bufferBytes);
        assertThat(u.sharing().liveBuffers()).isZero();
    }

    /**
     * Checks {@link KitRule#HELPER_4}.
     */
    @Test
    @Checks(KitRule.HELPER_4)
    default void failedAllocationChangesNothing() {
        KitFixture k = kit();
        long size = 5 * k.granule() + 1;
        String r = "allocation completes or leaves every domain, IOVA allocator and the page allocator as before";
        for (FailureInjector.Point point : FailureInjector.Point.values()) {
            TwoUnits u = k.twoUnits(); // fresh domains: tables a success keeps would spare the next point's table pages
            for (int n = 1; n <= 32; n++) {
                List<PageAllocator.Block> blocks = k.memory().allocator().allocatedBlocks();
                var iovasFirst = u.first().iovaSpace().snapshot();
                var iovasSecond = u.second().iovaSpace().snapshot();
                k.memory().failures().failNth(point, n);
                SharedBuffer b = null;
                try {
                    b = u.sharing().allocate(size, List.of(u.first(), u.second()));
                } catch (RuntimeException e) {
                    k.memory().failures().clear();
                    String what = "allocate failing at the " + n + "th " + point + " (" + e + ")";
                    TableLifetimeRules.assertOnlyTablesDiffer(k.memory(), blocks, rule(r) + " broken: " + what);
                    assertThat(u.first().iovaSpace().snapshot())
                            .as(rule(r) + " broken: " + what + " changed the first domain's IOVA allocator")
                            .isEqualTo(iovasFirst);
                    assertThat(u.second().iovaSpace().snapshot())
                            .as(rule(r) + " broken: " + what + " changed the second domain's IOVA allocator")
                            .isEqualTo(iovasSecond);
                    continue;
                }
                k.memory().failures().clear();
                assertThat(b).isContiguousIn(u.first()).isContiguousIn(u.second());
                b.close();
                break;
            }
        }
    }

    /**
     * Checks {@link KitRule#HELPER_5}.
     */
    @Test
    @Checks(KitRule.HELPER_5)
    default void failedShareOrImportChangesNothing() {
        KitFixture k = kit();
        TwoUnits u = k.twoUnits();
        String r = "late sharing and import complete or leave every domain, IOVA allocator and the page allocator"
                + " as before";
        long a = u.sharing().alignment(List.of(u.first(), u.second()), ShareOptions.DEFAULTS);
        PageLease lease = k.lease(u.sharing(), 4 * a, a);
        long pa = lease.pages().segments().get(0).pa();
        ScatterList list = ScatterList.of(new ScatterList.Segment(pa + 2 * a, a), new ScatterList.Segment(pa, a));
        try (SharedBuffer owner = u.sharing().allocate(3 * k.granule(), List.of(u.first()))) {
            for (String what : List.of("shareWith", "importScatterList")) {
                for (FailureInjector.Point point : FailureInjector.Point.values()) {
                    for (int n = 1; n <= 32; n++) {
                        List<PageAllocator.Block> blocks =
                                k.memory().allocator().allocatedBlocks();
                        var iovasFirst = u.first().iovaSpace().snapshot();
                        var iovasSecond = u.second().iovaSpace().snapshot();
                        k.memory().failures().failNth(point, n);
                        SharedBuffer imported = null;
                        try {
                            if (what.equals("shareWith")) {
                                owner.shareWith(u.second());
                            } else {
                                imported = u.sharing()
                                        .importScatterList(
                                                lease, list, List.of(u.first(), u.second()), ShareOptions.DEFAULTS);
                            }
                        } catch (RuntimeException e) {
                            k.memory().failures().clear();
                            String call = what + " failing at the " + n + "th " + point + " (" + e + ")";
                            TableLifetimeRules.assertOnlyTablesDiffer(k.memory(), blocks, rule(r) + " broken: " + call);
                            assertThat(u.first().iovaSpace().snapshot())
                                    .as(rule(r) + " broken: " + call + " changed the first domain's IOVA allocator")
                                    .isEqualTo(iovasFirst);
                            assertThat(u.second().iovaSpace().snapshot())
                                    .as(rule(r) + " broken: " + call + " changed the second domain's IOVA allocator")
                                    .isEqualTo(iovasSecond);
                            assertThat(owner.isMappedIn(u.second()))
                                    .as(rule(r) + " broken: " + call + " left the buffer mapped")
                                    .isFalse();
                            continue;
                        }
                        k.memory().failures().clear();
                        if (imported != null) {
                            assertThat(imported)
                                    .isContiguousIn(u.first())
                                    .isContiguousIn(u.second())
                                    .hasNoOverExposure();
                            imported.close();
                        } else {
                            assertThat(owner).isContiguousIn(u.second());
                            owner.unshare(u.second());
                        }
                        break;
                    }
                }
            }
        }
    }

    /**
     * Checks {@link KitRule#HELPER_6}.
     */
    @Test
    @Checks(KitRule.HELPER_6)
    default void lateSharingIsContiguous() {
        KitFixture k = kit();
        TwoUnits u = k.twoUnits();
        try (SharedBuffer b = u.sharing().allocate(3 * k.granule(), List.of(u.first()))) {
            long iova = b.shareWith(u.second());
            assertThat(b.iova(u.second())).isEqualTo(iova);
            assertThat(b)
                    .as(rule("late sharing maps the buffer contiguously"))
                    .isContiguousIn(u.second())
                    .isContiguousIn(u.first())
                    .isAligned()
                    .hasNoOverExposure();
            b.unshare(u.second());
            assertThat(u.second()).as(rule("unshare unmaps from that domain")).doesNotTranslateAnyOf(iova, b.length());
        }
    }

    /**
     * Checks {@link KitRule#HELPER_7}.
     */
    @Test
    @Checks(KitRule.HELPER_7)
    default void identicalIovaIsOneIova() {
        KitFixture k = kit();
        TwoUnits u = k.twoUnits();
        ShareOptions same = ShareOptions.builder().identicalIova(true).build();
        try (SharedBuffer b = u.sharing().allocate(2 * k.granule(), List.of(u.first(), u.second()), same)) {
            assertThat(b)
                    .hasTheSameIovaInEveryDomain()
                    .isContiguousInEveryDomain()
                    .hasNoOverExposure();
        }
    }

    /**
     * Checks {@link KitRule#HELPER_8}.
     */
    @Test
    @Checks(KitRule.HELPER_8)
    default void importRefusesMisalignedSegment() {
        KitFixture k = kit();
        TwoUnits u = k.twoUnits();
        long a = u.sharing().alignment(List.of(u.first(), u.second()), ShareOptions.DEFAULTS);
        PageLease lease = k.lease(u.sharing(), 4 * a, a);
        long pa = lease.pages().segments().get(0).pa();
        ScatterList list =
                ScatterList.of(new ScatterList.Segment(pa, a), new ScatterList.Segment(pa + 2 * a + a / 2, a));
        UnsafeScatterListException e = refuses(
                "import refuses a scatter list not aligned to A",
                UnsafeScatterListException.class,
                "importScatterList(" + list + ")",
                () -> u.sharing()
                        .importScatterList(lease, list, List.of(u.first(), u.second()), ShareOptions.DEFAULTS));
        assertThat(e.getMessage())
                .as(rule("the import error names the first bad segment"))
                .contains("segment 1");
        assertThat(u.first())
                .as(rule("a refused import maps nothing"))
                .doesNotTranslateAnyOf(u.first().iovaSpace().start(), 8 * a);
    }
}
