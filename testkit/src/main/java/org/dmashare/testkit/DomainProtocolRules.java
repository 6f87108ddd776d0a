package org.dmashare.testkit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.dmashare.testkit.KitFixture.iovaBase;
import static org.dmashare.testkit.KitFixture.rule;

import org.dmashare.Hex;
import org.dmashare.iommu.DeviceFaultException;
import org.dmashare.iommu.DmaDevice;
import org.dmashare.iommu.Iommu;
import org.dmashare.iommu.IommuApi;
import org.dmashare.iommu.IommuDomain;
import org.dmashare.iommu.IommuFault;
import org.dmashare.iommu.IotlbGather;
import org.dmashare.iommu.Prot;
import org.dmashare.memory.PhysicalMemory;
import org.junit.jupiter.api.Test;

/**
 * The kit's rules for the domain level of map and unmap ({@link IommuApi}), rule IDs
 * {@code PROTO-1} to {@code PROTO-5}: what callers that hand IOVAs to devices rely on, checked
 * through a device of the backend under test. They hold for a backend whose {@code syncMap} and
 * {@code flushIotlb} do the work its hardware needs; the table level, where a cached translation
 * must stay usable until a flush, is checked by the kit's IOTLB rules.
 *
 * <p>A topic of {@link IommuBackendConformanceKit}, which implements it, so that its checks run,
 * and report, under the backend author's test class; each check reaches its fresh {@link
 * KitFixture} through {@link #kit()} and uses the unit's stream 0 attached to a fresh paging domain.
 */
public interface DomainProtocolRules extends KitTopic {

    /** The kit's unit of the current check. */
    private Iommu unit() {
        return kit().iommu();
    }

    /** A fresh paging domain of the unit with stream 0 attached, closed after the check. */
    private IommuDomain attachedDomain() {
        return kit().attachedDomain(0);
    }

    /** {@code n} granules of buffer pages, granule i's first byte {@code i + 1}. */
    private long pages(IommuDomain d, int n) {
        PhysicalMemory memory = unit().memory();
        long g = d.granule();
        long pa = kit().pages(Long.highestOneBit(n * g - 1) << 1);
        for (int i = 0; i < n; i++) {
            memory.write(pa + i * g, new byte[] {(byte) (i + 1)});
        }
        return pa;
    }

    /** A granule-aligned IOVA inside the aperture, above 0, clear of the aperture's first granules. */
    private static long iova(IommuDomain d) {
        return iovaBase(d, d.granule()) + 16 * d.granule();
    }

    private static byte readByte(String rule, DmaDevice device, long iova, String when) {
        try {
            return device.read(iova, 1)[0];
        } catch (DeviceFaultException e) {
            throw new AssertionError(
                    rule + " broken: a device read at IOVA " + Hex.of(iova) + " " + when + " faulted (" + e.fault()
                            + ")",
                    e);
        }
    }

    private static void expectTranslationFault(String rule, DmaDevice device, long iova, String when) {
        byte[] got;
        try {
            got = device.read(iova, 1);
        } catch (DeviceFaultException e) {
            assertThat(e.fault().reason())
                    .as(rule + ": the fault of a device read at IOVA " + Hex.of(iova) + " " + when)
                    .isEqualTo(IommuFault.Reason.TRANSLATION);
            return;
        }
        throw new AssertionError(rule + " broken: a device read at IOVA " + Hex.of(iova) + " " + when + " returned "
                + Hex.of(got[0] & 0xff) + " instead of faulting: a stale translation survived");
    }

    /**
     * PROTO-1: {@code IommuApi.map} makes the mapping reachable when it returns, even at an IOVA
     * where the device faulted just before (an IOTLB that caches misses, or a unit that must copy
     * root entries, does that work in {@code syncMap}).
     */
    @Test
    @Checks(KitRule.PROTO_1)
    default void domainMapIsReachableWhenItReturns() {
        String rule = rule("a domain-level map is reachable when it returns");
        IommuDomain d = attachedDomain();
        DmaDevice device = unit().device(0);
        long iova = iova(d);
        long pa = pages(d, 1);
        expectTranslationFault(rule, device, iova, "before any map");
        IommuApi.map(d, iova, pa, d.granule(), Prot.READ_WRITE);
        assertThat(readByte(rule, device, iova, "after IommuApi.map"))
                .as(rule + ": the byte read")
                .isEqualTo((byte) 1);
    }

    /**
     * PROTO-2: pieces mapped with {@code IommuApi.mapNoSync} are all reachable after one
     * {@code IommuApi.syncMap} over the range they span.
     */
    @Test
    @Checks(KitRule.PROTO_2)
    default void noSyncPiecesAreReachableAfterOneSyncMap() {
        String rule = rule("pieces mapped without sync are reachable after one syncMap over their span");
        IommuDomain d = attachedDomain();
        DmaDevice device = unit().device(0);
        long g = d.granule();
        long iova = iova(d);
        long pa = pages(d, 3);
        expectTranslationFault(rule, device, iova + 2 * g, "before any map");
        IommuApi.mapNoSync(d, iova, pa, g, Prot.READ_WRITE);
        IommuApi.mapNoSync(d, iova + g, pa + g, 2 * g, Prot.READ_WRITE);
        IommuApi.syncMap(d, iova, 3 * g);
        for (int i = 0; i < 3; i++) {
            assertThat(readByte(rule, device, iova + i * g, "after the sync"))
                    .as(rule + ": the byte read at granule " + i)
                    .isEqualTo((byte) (i + 1));
        }
    }

    /**
     * PROTO-3: {@code IommuApi.unmap} returns the bytes unmapped, and no device reaches the range
     * afterwards, even through a translation it had cached.
     */
    @Test
    @Checks(KitRule.PROTO_3)
    default void domainUnmapLeavesNoStaleTranslation() {
        String rule = rule("a domain-level unmap leaves no stale translation");
        IommuDomain d = attachedDomain();
        DmaDevice device = unit().device(0);
        long g = d.granule();
        long iova = iova(d);
        IommuApi.map(d, iova, pages(d, 2), 2 * g, Prot.READ_WRITE);
        readByte(rule, device, iova, "after map");
        readByte(rule, device, iova + g, "after map");
        assertThat(IommuApi.unmap(d, iova, 2 * g))
                .as(rule + ": the bytes IommuApi.unmap reports")
                .isEqualTo(2 * g);
        expectTranslationFault(rule, device, iova, "after IommuApi.unmap");
        expectTranslationFault(rule, device, iova + g, "after IommuApi.unmap");
    }

    /**
     * PROTO-4: ranges removed with {@code IommuApi.unmapFast} stay reachable through cached
     * translations until {@code IommuApi.iotlbSync} of their gather, after which none is; the
     * gather covers them all.
     */
    @Test
    @Checks(KitRule.PROTO_4)
    default void unmapFastIsStaleUntilTheGatherIsSynced() {
        String rule = rule("unmapFast is stale until the gather is synced");
        IommuDomain d = attachedDomain();
        DmaDevice device = unit().device(0);
        long g = d.granule();
        long iova = iova(d);
        IommuApi.map(d, iova, pages(d, 2), 2 * g, Prot.READ_WRITE);
        readByte(rule, device, iova, "after map");
        readByte(rule, device, iova + g, "after map");
        IotlbGather gather = new IotlbGather();
        assertThat(IommuApi.unmapFast(d, iova + g, g, gather) + IommuApi.unmapFast(d, iova, g, gather))
                .as(rule + ": the bytes the two unmapFast calls report")
                .isEqualTo(2 * g);
        assertThat(readByte(
                        rule,
                        device,
                        iova + g,
                        "after unmapFast, before the sync (the backend flushed on"
                                + " unmap, which hardware does not do)"))
                .as(rule + ": the stale byte")
                .isEqualTo((byte) 2);
        assertThat(gather.start()).as(rule + ": the gather's start").isEqualTo(iova);
        assertThat(gather.end()).as(rule + ": the gather's end").isEqualTo(iova + 2 * g);
        IommuApi.iotlbSync(d, gather);
        expectTranslationFault(rule, device, iova, "after iotlbSync");
        expectTranslationFault(rule, device, iova + g, "after iotlbSync");
        assertThat(gather.isEmpty())
                .as(rule + ": the gather is empty after its sync")
                .isTrue();
    }

    /**
     * PROTO-5: syncing a gather that collected nothing (its unmaps found nothing mapped) does no
     * IOTLB work: what the device had cached stays cached.
     */
    @Test
    @Checks(KitRule.PROTO_5)
    default void syncOfAnEmptyGatherLeavesTheIotlbAlone() {
        String rule = rule("syncing a gather that collected nothing leaves the IOTLB as it is");
        IommuDomain d = attachedDomain();
        DmaDevice device = unit().device(0);
        long g = d.granule();
        long iova = iova(d);
        IommuApi.map(d, iova, pages(d, 1), g, Prot.READ_WRITE);
        readByte(rule, device, iova, "after map");
        int cached = unit().iotlbSize();
        assertThat(cached).as(rule + ": a device read fills the IOTLB").isPositive();
        IotlbGather gather = new IotlbGather();
        assertThat(IommuApi.unmapFast(d, iova + 4 * g, g, gather))
                .as(rule + ": the bytes unmapFast reports for a range with nothing mapped")
                .isZero();
        assertThat(gather.isEmpty()).as(rule + ": a gather of nothing is empty").isTrue();
        assertThat(unit().iotlbSize())
                .as(rule + ": IOTLB entries after an unmapFast that removed nothing (the"
                        + " backend invalidated on unmap, which hardware does not do)")
                .isEqualTo(cached);
        IommuApi.iotlbSync(d, gather);
        assertThat(unit().iotlbSize())
                .as(rule + ": IOTLB entries after syncing an empty gather")
                .isEqualTo(cached);
    }
}
