package org.dmashare.testkit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.dmashare.testkit.DmaShareAssertions.assertThat;
import static org.dmashare.testkit.KitFixture.faults;
import static org.dmashare.testkit.KitFixture.iovaBase;
import static org.dmashare.testkit.KitFixture.rule;

import org.dmashare.iommu.Access;
import org.dmashare.iommu.DeviceFaultException;
import org.dmashare.iommu.IommuDomain;
import org.dmashare.iommu.IommuFault;
import org.dmashare.iommu.Prot;
import org.junit.jupiter.api.Test;

/**
 * The kit's rules about the IOTLB: translations stay cached until flushed, as on hardware:
 * IOTLB-1 to IOTLB-5, each stated in {@link KitRule}. A topic of {@link
 * IommuBackendConformanceKit}, which implements it, so that its checks run, and report, under the
 * backend author's test class; each check reaches its fresh {@link KitFixture} through {@link
 * #kit()}.
 */
public interface IotlbRules extends KitTopic {

    /**
     * Checks {@link KitRule#IOTLB_1}.
     */
    @Test
    @Checks(KitRule.IOTLB_1)
    default void unmapStaysStaleUntilFlush() {
        KitFixture k = kit();
        IommuDomain d = k.attachedDomain(0);
        long g = k.granule();
        long pa = k.pages(g);
        long iova = iovaBase(d, g);
        d.map(iova, pa, g, Prot.READ_WRITE);
        k.memory().write(pa, new byte[] {42});
        k.iommu().device(0).read(iova, 1);
        assertThat(k.iommu().iotlbSize())
                .as(rule("a device access fills the IOTLB"))
                .isPositive();
        d.unmap(iova, g);
        assertThat(d).as(rule("unmap clears the entry in memory at once")).doesNotTranslate(iova);
        byte[] stale;
        try {
            stale = k.iommu().device(0).read(iova, 1);
        } catch (DeviceFaultException e) {
            throw new AssertionError(
                    rule("a cached translation stays usable until flushIotlb (stale until flush)")
                            + " broken: after unmap without flush the device access faulted (" + e.fault()
                            + "); the backend invalidated the IOTLB on unmap, which hardware does not do",
                    e);
        }
        assertThat(stale)
                .as(rule("a cached translation stays usable until flushIotlb")
                        + ": the stale access read other bytes than the old page's")
                .containsExactly(42);
        d.flushIotlb();
        String r = "after flushIotlb a device sees the tables as they are";
        DeviceFaultException e = faults(
                r,
                "a device read after unmap and flushIotlb",
                () -> k.iommu().device(0).read(iova, 1));
        k.expectFault(r, e, 0, iova, Access.READ, IommuFault.Reason.TRANSLATION);
    }

    /**
     * Checks {@link KitRule#IOTLB_2}: what every caller of map relies on ({@code iommu_map} calls
     * {@code iotlb_sync_map}). A backend whose IOTLB caches misses must flush in {@code syncMap}.
     */
    @Test
    @Checks(KitRule.IOTLB_2)
    default void syncMapReachesNewMapping() {
        KitFixture k = kit();
        IommuDomain d = k.attachedDomain(0);
        long g = k.granule();
        long pa = k.pages(g);
        long iova = iovaBase(d, g);
        k.memory().write(pa, new byte[] {7});
        faults(
                "a device access to an unmapped IOVA faults",
                "a device read before the map",
                () -> k.iommu().device(0).read(iova, 1));
        d.map(iova, pa, g, Prot.READ_WRITE);
        d.syncMap(iova, g);
        String r = "after map and syncMap a device reaches the new mapping";
        byte[] got;
        try {
            got = k.iommu().device(0).read(iova, 1);
        } catch (DeviceFaultException e) {
            throw new AssertionError(
                    rule(r) + " broken: the read faulted (" + e.fault() + "); the backend kept"
                            + " the earlier miss past syncMap",
                    e);
        }
        assertThat(got).as(rule(r)).containsExactly(7);
    }

    /**
     * Checks {@link KitRule#IOTLB_3}.
     */
    @Test
    @Checks(KitRule.IOTLB_3)
    default void remapStaysStaleUntilFlush() {
        KitFixture k = kit();
        IommuDomain d = k.attachedDomain(0);
        long g = k.granule();
        long pa = k.pages(2 * g);
        long iova = iovaBase(d, g);
        k.memory().write(pa, new byte[] {1});
        k.memory().write(pa + g, new byte[] {2});
        d.map(iova, pa, g, Prot.READ_WRITE);
        assertThat(k.iommu().device(0).read(iova, 1)).containsExactly(1);
        d.unmap(iova, g);
        d.map(iova, pa + g, g, Prot.READ_WRITE);
        assertThat(d).translates(iova).to(pa + g);
        assertThat(k.iommu().device(0).read(iova, 1))
                .as(rule("a cached translation stays usable until flushIotlb")
                        + ": after a remap without flush the device should still reach the old page")
                .containsExactly(1);
        d.flushIotlb();
        assertThat(k.iommu().device(0).read(iova, 1))
                .as(rule("after flushIotlb a device sees the new mapping"))
                .containsExactly(2);
    }

    /**
     * Checks {@link KitRule#IOTLB_4}.
     */
    @Test
    @Checks(KitRule.IOTLB_4)
    default void flushEmptiesDomainEntries() {
        KitFixture k = kit();
        IommuDomain d = k.attachedDomain(0);
        long g = k.granule();
        long pa = k.pages(4 * g);
        long iova = iovaBase(d, g);
        d.map(iova, pa, 4 * g, Prot.READ_WRITE);
        k.iommu().device(0).read(iova, (int) (4 * g));
        assertThat(k.iommu().iotlbSize())
                .as(rule("device accesses fill the IOTLB"))
                .isPositive();
        d.flushIotlb();
        assertThat(k.iommu().iotlbSize())
                .as(rule("flushIotlb invalidates every entry of the domain's streams"))
                .isZero();
    }

    /**
     * Checks {@link KitRule#IOTLB_5}.
     */
    @Test
    @Checks(KitRule.IOTLB_5)
    default void attachInvalidatesStream() {
        KitFixture k = kit();
        IommuDomain a = k.attachedDomain(0);
        IommuDomain b = k.domain(k.iommu());
        long g = k.granule();
        long pa = k.pages(g);
        long iova = iovaBase(a, g);
        a.map(iova, pa, g, Prot.READ_WRITE);
        k.iommu().device(0).read(iova, 1);
        k.iommu().device(0).attach(b);
        assertThat(b.devices())
                .as(rule("attach moves the device to the new domain"))
                .contains(k.iommu().device(0));
        assertThat(a.devices())
                .as(rule("attach removes the device from its old domain"))
                .isEmpty();
        String r = "attach invalidates the stream's IOTLB entries";
        DeviceFaultException e = faults(
                r,
                "a device read through the new domain of an IOVA cached from the old",
                () -> k.iommu().device(0).read(iova, 1));
        k.expectFault(r, e, 0, iova, Access.READ, IommuFault.Reason.TRANSLATION);
    }
}
