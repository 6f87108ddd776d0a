package org.dmashare.testkit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.dmashare.testkit.DmaShareAssertions.assertThat;
import static org.dmashare.testkit.KitFixture.refuses;
import static org.dmashare.testkit.KitFixture.rule;

import org.dmashare.Hex;
import org.dmashare.InvalidArgumentException;
import org.dmashare.iommu.DmaDevice;
import org.dmashare.iommu.DomainType;
import org.dmashare.iommu.IommuDomain;
import org.junit.jupiter.api.Test;

/**
 * The kit's rules about what the unit and its domains report about themselves: DECL-1 to DECL-4,
 * each stated in {@link KitRule}. A topic of {@link IommuBackendConformanceKit}, which implements
 * it, so that its checks run, and report, under the backend author's test class; each check
 * reaches its fresh {@link KitFixture} through {@link #kit()}.
 */
public interface DeclarationRules extends KitTopic {

    /**
     * Checks {@link KitRule#DECL_1}. While it fails, every other check of the kit is aborted rather
     * than failing for the same reason.
     */
    @Test
    @Checks(KitRule.DECL_1)
    default void memoryAndWidthsAgree() {
        kit().setupProblem().ifPresent(problem -> {
            throw new AssertionError("kit setup: " + problem);
        });
    }

    /**
     * Checks {@link KitRule#DECL_2}.
     */
    @Test
    @Checks(KitRule.DECL_2)
    default void domainsReportDeclaredGeometry() {
        KitFixture k = kit();
        IommuDomain d = k.domain(k.iommu());
        assertThat(d.type()).as(rule("createDomain() makes a paging domain")).isEqualTo(DomainType.PAGING);
        assertThat(d.granule())
                .as(rule("a domain reports the declared granule") + ": the backend reports " + Hex.size(d.granule()))
                .isEqualTo(k.granule());
        assertThat(Hex.of(d.pageSizes()))
                .as(rule("a domain reports the declared page-size bitmap"))
                .isEqualTo(Hex.of(k.capabilities().pageSizes()));
        assertThat(k.iommu().variant().granule())
                .as(rule("the variant's granule is the domains' granule"))
                .isEqualTo(k.granule());
    }

    /**
     * Checks {@link KitRule#DECL_3}.
     */
    @Test
    @Checks(KitRule.DECL_3)
    default void unitHasOneDevicePerStream() {
        KitFixture k = kit();
        assertThat(k.iommu().streamCount())
                .as(rule("the unit has the streams asked for"))
                .isEqualTo(k.capabilities().streams());
        for (int sid = 0; sid < k.capabilities().streams(); sid++) {
            DmaDevice dev = k.iommu().device(sid);
            assertThat(dev.streamId())
                    .as(rule("device(sid) sits behind stream sid"))
                    .isEqualTo(sid);
            assertThat(k.iommu().device(sid))
                    .as(rule("device(sid) returns the same object each time"))
                    .isSameAs(dev);
            assertThat(dev.iommu()).as(rule("a device belongs to its unit")).isSameAs(k.iommu());
            assertThat(dev.domain())
                    .as(rule("a new unit has every stream blocked") + ": stream " + sid + " is attached to "
                            + dev.domain())
                    .isEmpty();
        }
        refuses(
                "out-of-range stream IDs are refused",
                InvalidArgumentException.class,
                "device(-1)",
                () -> k.iommu().device(-1));
        refuses(
                "out-of-range stream IDs are refused",
                InvalidArgumentException.class,
                "device(" + k.capabilities().streams() + ")",
                () -> k.iommu().device(k.capabilities().streams()));
        refuses(
                "out-of-range stream IDs are refused",
                InvalidArgumentException.class,
                "walk(" + k.capabilities().streams() + ", 0)",
                () -> k.iommu().walk(k.capabilities().streams(), 0));
    }

    /**
     * Checks {@link KitRule#DECL_4}.
     */
    @Test
    @Checks(KitRule.DECL_4)
    default void newUnitStartsEmpty() {
        KitFixture k = kit();
        assertThat(k.iommu().faults())
                .as(rule("a new unit has an empty fault log"))
                .isEmpty();
        assertThat(k.iommu().iotlbSize())
                .as(rule("a new unit has an empty IOTLB"))
                .isZero();
        assertThat(k.iommu().memory())
                .as(rule("a unit translates to the memory it was created over"))
                .isSameAs(k.memory());
    }
}
