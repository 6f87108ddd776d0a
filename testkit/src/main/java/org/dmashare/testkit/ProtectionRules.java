package org.dmashare.testkit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.dmashare.testkit.DmaShareAssertions.assertThat;
import static org.dmashare.testkit.KitFixture.faults;
import static org.dmashare.testkit.KitFixture.iovaBase;
import static org.dmashare.testkit.KitFixture.pattern;
import static org.dmashare.testkit.KitFixture.refuses;
import static org.dmashare.testkit.KitFixture.rule;

import java.util.Optional;
import java.util.stream.Stream;
import org.dmashare.Hex;
import org.dmashare.InvalidArgumentException;
import org.dmashare.iommu.Access;
import org.dmashare.iommu.DeviceFaultException;
import org.dmashare.iommu.DomainType;
import org.dmashare.iommu.IommuDomain;
import org.dmashare.iommu.IommuFault;
import org.dmashare.iommu.Prot;
import org.dmashare.iommu.Translation;
import org.dmashare.testkit.KitFixture.State;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

/**
 * The kit's rules about device DMA, protection and the fault log: PROT-1 to PROT-10, each stated
 * in {@link KitRule}. A topic of {@link IommuBackendConformanceKit}, which implements it, so that
 * its checks run, and report, under the backend author's test class; each check reaches its fresh
 * {@link KitFixture} through {@link #kit()}.
 */
public interface ProtectionRules extends KitTopic {

    /**
     * Checks {@link KitRule#PROT_1}.
     */
    @Test
    @Checks(KitRule.PROT_1)
    default void dmaReachesExactlyMappedBytes() {
        KitFixture k = kit();
        IommuDomain d = k.attachedDomain(0);
        long g = k.granule();
        long pa = k.pages(4 * g);
        long iova = iovaBase(d, g);
        d.map(iova, pa + g, 2 * g, Prot.READ_WRITE);
        byte[] data = pattern((int) (2 * g), 5);
        k.iommu().device(0).write(iova, data);
        assertThat(k.memory().read(pa + g, data.length))
                .as(rule("a device write lands at the mapped physical bytes"))
                .isEqualTo(data);
        assertThat(k.memory().read(pa, (int) g))
                .as(rule("a device write touches nothing outside its mapping"))
                .containsOnly(0);
        assertThat(k.memory().read(pa + 3 * g, (int) g))
                .as(rule("a device write touches nothing outside its mapping"))
                .containsOnly(0);
        byte[] cpu = pattern((int) g, 9);
        k.memory().write(pa + 2 * g, cpu);
        assertThat(k.iommu().device(0).read(iova + g, (int) g))
                .as(rule("a device read returns the mapped bytes"))
                .isEqualTo(cpu);
        assertThat(k.iommu().faults())
                .as(rule("a permitted access logs no fault"))
                .isEmpty();
    }

    /**
     * Checks {@link KitRule#PROT_2}.
     */
    @Test
    @Checks(KitRule.PROT_2)
    default void writeToReadOnlyFaults() {
        KitFixture k = kit();
        IommuDomain d = k.attachedDomain(0);
        long g = k.granule();
        long pa = k.pages(g);
        long iova = iovaBase(d, g);
        d.map(iova, pa, g, Prot.READ);
        String r = "a device write to a read-only mapping faults with PERMISSION and writes nothing";
        DeviceFaultException e = faults(r, "a device write to read-only IOVA " + Hex.of(iova), () -> {
            k.iommu().device(0).write(iova, new byte[] {1, 2, 3});
            return null;
        });
        k.expectFault(r, e, 0, iova, Access.WRITE, IommuFault.Reason.PERMISSION);
        assertThat(k.memory().read(pa, 3)).as(rule(r)).containsOnly(0);
        assertThat(k.iommu().device(0).read(iova, 3))
                .as(rule("a read-only mapping allows device reads"))
                .hasSize(3);
    }

    /**
     * Checks {@link KitRule#PROT_3} where the backend declares write-only mappings; generates no test
     * otherwise.
     *
     * @return the check, if the rule applies
     */
    @TestFactory
    @Checks(KitRule.PROT_3)
    default Stream<DynamicTest> readOfWriteOnlyFaults() {
        KitFixture k = kit();
        return k.onlyIf(k.capabilities().writeOnly(), () -> {
            IommuDomain d = k.attachedDomain(0);
            long g = k.granule();
            long pa = k.pages(g);
            long iova = iovaBase(d, g);
            d.map(iova, pa, g, Prot.WRITE);
            k.iommu().device(0).write(iova, new byte[] {7});
            assertThat(k.memory().read(pa, 1))
                    .as(rule("a write-only mapping allows device writes"))
                    .containsExactly(7);
            String r = "a device read of a write-only mapping faults with PERMISSION";
            DeviceFaultException e = faults(
                    r,
                    "a device read of write-only IOVA " + Hex.of(iova),
                    () -> k.iommu().device(0).read(iova, 1));
            k.expectFault(r, e, 0, iova, Access.READ, IommuFault.Reason.PERMISSION);
        });
    }

    /**
     * Checks {@link KitRule#PROT_4} where the backend declares no write-only mappings; generates no
     * test otherwise.
     *
     * @return the check, if the rule applies
     */
    @TestFactory
    @Checks(KitRule.PROT_4)
    default Stream<DynamicTest> writeOnlyRefusedWithoutIt() {
        KitFixture k = kit();
        return k.onlyIf(!k.capabilities().writeOnly(), () -> {
            IommuDomain d = k.attachedDomain(0);
            long g = k.granule();
            long pa = k.pages(g);
            long iova = iovaBase(d, g);
            String r = "a format without write-only mappings refuses Prot.WRITE instead of granting reads";
            State before = k.state(0, iova);
            refuses(r, InvalidArgumentException.class, "map(" + Hex.of(iova) + ", .., Prot.WRITE)", () -> {
                d.map(iova, pa, g, Prot.WRITE);
                return null;
            });
            k.unchanged(r, "map(.., Prot.WRITE)", before, 0, iova);
        });
    }

    /**
     * Checks {@link KitRule#PROT_5}.
     */
    @Test
    @Checks(KitRule.PROT_5)
    default void unmappedAccessFaults() {
        KitFixture k = kit();
        IommuDomain d = k.attachedDomain(0);
        long g = k.granule();
        long iova = iovaBase(d, g) + 5 * g;
        String r = "an access to an unmapped IOVA faults with TRANSLATION and is logged";
        DeviceFaultException e = faults(
                r,
                "a device read of unmapped IOVA " + Hex.of(iova),
                () -> k.iommu().device(0).read(iova, 4));
        k.expectFault(r, e, 0, iova, Access.READ, IommuFault.Reason.TRANSLATION);
        assertThat(e.fault().iommu())
                .as(rule("a fault names its unit"))
                .isEqualTo(k.iommu().name());
        DeviceFaultException w = faults(r, "a device write to unmapped IOVA " + Hex.of(iova + g), () -> {
            k.iommu().device(0).write(iova + g, new byte[4]);
            return null;
        });
        k.expectFault(r, w, 0, iova + g, Access.WRITE, IommuFault.Reason.TRANSLATION);
        assertThat(k.iommu().faults())
                .as(rule("the fault log keeps faults oldest first"))
                .containsExactly(e.fault(), w.fault());
    }

    /**
     * Checks {@link KitRule#PROT_6}.
     */
    @Test
    @Checks(KitRule.PROT_6)
    default void clearFaultsEmptiesLog() {
        KitFixture k = kit();
        IommuDomain d = k.attachedDomain(0);
        long iova = iovaBase(d, k.granule());
        faults(
                "an access to an unmapped IOVA faults",
                "a device read",
                () -> k.iommu().device(0).read(iova, 1));
        assertThat(k.iommu().faults()).hasSize(1);
        k.iommu().clearFaults();
        assertThat(k.iommu().faults())
                .as(rule("clearFaults empties the fault log"))
                .isEmpty();
    }

    /**
     * Checks {@link KitRule#PROT_7}.
     */
    @Test
    @Checks(KitRule.PROT_7)
    default void detachedStreamIsBlocked() {
        KitFixture k = kit();
        IommuDomain d = k.attachedDomain(0);
        long g = k.granule();
        long pa = k.pages(g);
        long iova = iovaBase(d, g);
        d.map(iova, pa, g, Prot.READ_WRITE);
        k.iommu().device(0).read(iova, 1);
        k.iommu().device(0).detach();
        k.iommu().device(0).detach();
        assertThat(k.iommu().device(0).domain())
                .as(rule("a detached device has no domain"))
                .isEmpty();
        assertThat(d.devices())
                .as(rule("a detached device leaves its domain's device set"))
                .isEmpty();
        assertThat(k.iommu().walk(0, iova))
                .as(rule("the walk of a detached stream finds nothing"))
                .isEmpty();
        String r = "a detached stream blocks every access with BLOCKED, even one cached in the IOTLB";
        DeviceFaultException e = faults(
                r, "a device read after detach", () -> k.iommu().device(0).read(iova, 1));
        k.expectFault(r, e, 0, iova, Access.READ, IommuFault.Reason.BLOCKED);
    }

    /**
     * Checks {@link KitRule#PROT_8}.
     */
    @Test
    @Checks(KitRule.PROT_8)
    default void blockedDomainFaults() {
        KitFixture k = kit();
        IommuDomain blocked = k.closeLater(k.iommu().createDomain(DomainType.BLOCKED));
        assertThat(blocked.type()).isEqualTo(DomainType.BLOCKED);
        k.iommu().device(0).attach(blocked);
        long iova = k.granule();
        String r = "a stream attached to a blocked domain faults every access with BLOCKED";
        DeviceFaultException e = faults(
                r,
                "a device read through a blocked domain",
                () -> k.iommu().device(0).read(iova, 1));
        k.expectFault(r, e, 0, iova, Access.READ, IommuFault.Reason.BLOCKED);
    }

    /**
     * Checks {@link KitRule#PROT_9} where the backend declares sub-page protection; generates no test
     * otherwise.
     *
     * @return the check, if the rule applies
     */
    @TestFactory
    @Checks(KitRule.PROT_9)
    default Stream<DynamicTest> accessOutsideSubPageWindowFaults() {
        KitFixture k = kit();
        return k.onlyIf(k.capabilities().subPage().isPresent(), () -> {
            IommuDomain d = k.attachedDomain(0);
            long g = k.granule();
            long pa = k.pages(g);
            long iova = iovaBase(d, g);
            d.map(iova, pa, g, Prot.READ_WRITE);
            long first = g / 4;
            long last = g / 2 - 1;
            k.capabilities().subPage().get().restrict(d, iova, first, last);
            d.flushIotlb();
            assertThat(k.iommu().device(0).read(iova + first, (int) (last - first + 1)))
                    .as(rule("accesses inside the sub-page window are allowed"))
                    .hasSize((int) (last - first + 1));
            String r = "an access outside the sub-page window faults with SUBPAGE";
            for (long off : new long[] {0, first - 1, last + 1, g - 1}) {
                DeviceFaultException e = faults(
                        r,
                        "a device read at offset " + Hex.of(off)
                                + " of a page whose window is ["
                                + Hex.of(first) + ", " + Hex.of(last) + "]",
                        () -> k.iommu().device(0).read(iova + off, 1));
                k.expectFault(r, e, 0, iova + off, Access.READ, IommuFault.Reason.SUBPAGE);
            }
        });
    }

    /**
     * Checks {@link KitRule#PROT_10} where the backend declares no sub-page protection; generates no
     * test otherwise.
     *
     * @return the check, if the rule applies
     */
    @TestFactory
    @Checks(KitRule.PROT_10)
    default Stream<DynamicTest> noSubPageWindowWithoutIt() {
        KitFixture k = kit();
        return k.onlyIf(k.capabilities().subPage().isEmpty(), () -> {
            IommuDomain d = k.attachedDomain(0);
            long g = k.granule();
            long pa = k.pages(g);
            long iova = iovaBase(d, g);
            d.map(iova, pa, g, Prot.READ_WRITE);
            long first = g / 4;
            long last = g / 2 - 1;
            String r = "without sub-page protection no leaf has a sub-page window and devices reach the whole page";
            for (long off : new long[] {0, first - 1, first, last, last + 1, g - 1}) {
                Optional<Translation> t = k.iommu().walk(0, iova + off);
                assertThat(t)
                        .as(rule(r) + " broken: the hardware walk finds nothing at IOVA " + Hex.of(iova + off)
                                + " of the mapped page " + Hex.of(iova))
                        .isPresent();
                assertThat(t.get().hasSubpageWindow())
                        .as(rule(r) + " broken: the hardware walk at IOVA " + Hex.of(iova + off) + " finds " + t.get())
                        .isFalse();
            }
            byte[] data = pattern((int) g, 13);
            try {
                k.iommu().device(0).write(iova, data);
                assertThat(k.iommu().device(0).read(iova, (int) g))
                        .as(rule(r) + " broken: a device read of the whole"
                                + " page returned other bytes than the device wrote")
                        .isEqualTo(data);
            } catch (DeviceFaultException e) {
                throw new AssertionError(
                        rule(r) + " broken: a device access to the whole page at " + Hex.of(iova) + " faulted ("
                                + e.fault() + ")",
                        e);
            }
            assertThat(k.memory().read(pa, (int) g))
                    .as(rule(r) + " broken: a device write of the whole page did not land" + " in full")
                    .isEqualTo(data);
        });
    }
}
