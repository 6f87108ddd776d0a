package org.dmashare.testkit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.dmashare.testkit.DmaShareAssertions.assertThat;
import static org.dmashare.testkit.KitFixture.faults;
import static org.dmashare.testkit.KitFixture.refuses;
import static org.dmashare.testkit.KitFixture.rule;

import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.dmashare.Hex;
import org.dmashare.InvalidArgumentException;
import org.dmashare.iommu.Access;
import org.dmashare.iommu.DeviceFaultException;
import org.dmashare.iommu.IommuDomain;
import org.dmashare.iommu.IommuFault;
import org.dmashare.iommu.Prot;
import org.dmashare.testkit.KitFixture.State;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

/**
 * The kit's rules about the aperture and the IOVA allocator: APERTURE-1 to APERTURE-4, each
 * stated in {@link KitRule}. A topic of {@link IommuBackendConformanceKit}, which implements it,
 * so that its checks run, and report, under the backend author's test class; each check reaches
 * its fresh {@link KitFixture} through {@link #kit()}.
 */
public interface ApertureRules extends KitTopic {

    /**
     * Checks {@link KitRule#APERTURE_1}.
     */
    @Test
    @Checks(KitRule.APERTURE_1)
    default void mapRefusesOutsideAperture() {
        KitFixture k = kit();
        IommuDomain d = k.attachedDomain(0);
        long g = k.granule();
        long pa = k.pages(2 * g);
        String r = "map refuses ranges outside the aperture";
        List<long[]> outside = new ArrayList<>();
        if (d.apertureEnd() <= Long.MAX_VALUE - 2 * g) {
            outside.add(new long[] {d.apertureEnd(), g});
            outside.add(new long[] {d.apertureEnd() - g, 2 * g});
        }
        if (d.apertureStart() >= g) {
            outside.add(new long[] {d.apertureStart() - g, g});
        }
        for (long[] o : outside) {
            String call = "map(" + Hex.of(o[0]) + ", " + Hex.of(pa) + ", " + Hex.of(o[1]) + ") with aperture "
                    + Hex.range(d.apertureStart(), d.apertureEnd() - d.apertureStart());
            State before = k.state(0, d.apertureEnd() - g);
            refuses(r, InvalidArgumentException.class, call, () -> {
                d.map(o[0], pa, o[1], Prot.READ_WRITE);
                return null;
            });
            k.unchanged(r, call, before, 0, d.apertureEnd() - g);
        }
    }

    /**
     * Checks {@link KitRule#APERTURE_2}.
     */
    @Test
    @Checks(KitRule.APERTURE_2)
    default void mapAcceptsApertureEdges() {
        KitFixture k = kit();
        IommuDomain d = k.attachedDomain(0);
        long g = k.granule();
        long pa = k.pages(2 * g);
        d.map(d.apertureStart(), pa, g, Prot.READ_WRITE);
        d.map(d.apertureEnd() - g, pa + g, g, Prot.READ_WRITE);
        assertThat(d)
                .as(rule("the first granule of the aperture can be mapped"))
                .translates(d.apertureStart())
                .to(pa);
        assertThat(d)
                .as(rule("the last granule of the aperture can be mapped"))
                .translates(d.apertureEnd() - 1)
                .to(pa + 2 * g - 1);
        assertThat(d.unmap(d.apertureEnd() - g, g)).isEqualTo(g);
        assertThat(d.unmap(d.apertureStart(), g)).isEqualTo(g);
    }

    /**
     * Checks {@link KitRule#APERTURE_3}.
     */
    @Test
    @Checks(KitRule.APERTURE_3)
    default void iovaAllocatorStaysInAperture() {
        KitFixture k = kit();
        IommuDomain d = k.domain(k.iommu());
        long g = k.granule();
        assertThat(d.iovaSpace().start())
                .as(rule("the IOVA allocator never hands out IOVA 0") + ": it starts at "
                        + Hex.of(d.iovaSpace().start()))
                .isPositive()
                .isGreaterThanOrEqualTo(d.apertureStart());
        assertThat(d.iovaSpace().end())
                .as(rule("the IOVA allocator stays inside the aperture"))
                .isLessThanOrEqualTo(d.apertureEnd());
        assertThat(d.iovaSpace().granule())
                .as(rule("the IOVA allocator works in granules"))
                .isEqualTo(g);
        long a = d.iovaSpace().findFree(4 * g, g, d.iovaSpace().end());
        assertThat(a).as(rule("the IOVA allocator never hands out IOVA 0")).isPositive();
    }

    /**
     * Checks {@link KitRule#APERTURE_4} where the unit's input size leaves IOVAs beyond it (below 63
     * bits); generates no test otherwise. Hardware whose walk reaches further than the configured
     * input size (DART's L1 table covers 36 bits however few of them Linux uses) faults there with
     * TRANSLATION instead of ADDRESS_SIZE; both are right.
     *
     * @return the check, if the rule applies
     */
    @TestFactory
    @Checks(KitRule.APERTURE_4)
    default Stream<DynamicTest> accessBeyondInputSizeFaults() {
        KitFixture k = kit();
        return k.onlyIf(k.iommu().inputBits() < 63, () -> {
            IommuDomain d = k.attachedDomain(0);
            long beyond = 1L << k.iommu().inputBits();
            String r = "an access beyond the input size faults with ADDRESS_SIZE or TRANSLATION";
            assertThat(d)
                    .as(rule("an IOVA beyond the input size has no translation"))
                    .doesNotTranslate(beyond);
            DeviceFaultException e = faults(
                    r,
                    "a device read at " + Hex.of(beyond),
                    () -> k.iommu().device(0).read(beyond, 8));
            IommuFault.Reason reason = e.fault().reason() == IommuFault.Reason.TRANSLATION
                    ? IommuFault.Reason.TRANSLATION
                    : IommuFault.Reason.ADDRESS_SIZE;
            k.expectFault(r, e, 0, beyond, Access.READ, reason);
        });
    }
}
