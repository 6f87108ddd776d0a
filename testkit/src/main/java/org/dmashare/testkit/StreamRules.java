package org.dmashare.testkit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.dmashare.testkit.DmaShareAssertions.assertThat;
import static org.dmashare.testkit.KitFixture.faults;
import static org.dmashare.testkit.KitFixture.iovaBase;
import static org.dmashare.testkit.KitFixture.refuses;
import static org.dmashare.testkit.KitFixture.rule;

import java.util.stream.Stream;
import org.dmashare.InvalidArgumentException;
import org.dmashare.iommu.DomainType;
import org.dmashare.iommu.Iommu;
import org.dmashare.iommu.IommuDomain;
import org.dmashare.iommu.Prot;
import org.dmashare.iommu.Translation;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

/**
 * The kit's rules about streams, attach, isolation and identity domains: STREAM-1 to STREAM-5,
 * each stated in {@link KitRule}. A topic of {@link IommuBackendConformanceKit}, which implements
 * it, so that its checks run, and report, under the backend author's test class; each check
 * reaches its fresh {@link KitFixture} through {@link #kit()}.
 */
public interface StreamRules extends KitTopic {

    /**
     * Checks {@link KitRule#STREAM_1} where the backend declares at least two streams; generates no
     * test otherwise.
     *
     * @return the check, if the rule applies
     */
    @TestFactory
    @Checks(KitRule.STREAM_1)
    default Stream<DynamicTest> domainsIsolateStreams() {
        KitFixture k = kit();
        return k.onlyIf(k.capabilities().streams() >= 2, () -> {
            IommuDomain a = k.attachedDomain(0);
            IommuDomain b = k.attachedDomain(1);
            long g = k.granule();
            long pa = k.pages(2 * g);
            long iova = iovaBase(a, g);
            a.map(iova, pa, g, Prot.READ_WRITE);
            b.map(iova, pa + g, g, Prot.READ_WRITE);
            assertThat(k.iommu().walk(0, iova).map(Translation::pa))
                    .as(rule("each stream walks its own domain's tables"))
                    .contains(pa);
            assertThat(k.iommu().walk(1, iova).map(Translation::pa))
                    .as(rule("each stream walks its own domain's tables"))
                    .contains(pa + g);
            k.iommu().device(0).write(iova, new byte[] {11});
            k.iommu().device(1).write(iova, new byte[] {22});
            assertThat(k.memory().read(pa, 1))
                    .as(rule("streams in different domains are isolated"))
                    .containsExactly(11);
            assertThat(k.memory().read(pa + g, 1))
                    .as(rule("streams in different domains are isolated"))
                    .containsExactly(22);
            a.unmap(iova, g);
            a.flushIotlb();
            assertThat(k.iommu().device(1).read(iova, 1))
                    .as(rule("flushing one domain leaves other streams' mappings"))
                    .containsExactly(22);
        });
    }

    /**
     * Checks {@link KitRule#STREAM_2} where the backend declares at least two streams; generates no
     * test otherwise.
     *
     * @return the check, if the rule applies
     */
    @TestFactory
    @Checks(KitRule.STREAM_2)
    default Stream<DynamicTest> streamsSharingDomainSeeSameMemory() {
        KitFixture k = kit();
        return k.onlyIf(k.capabilities().streams() >= 2, () -> {
            IommuDomain d = k.attachedDomain(0);
            k.iommu().device(1).attach(d);
            assertThat(d.devices())
                    .as(rule("a domain lists every device attached to it"))
                    .containsExactlyInAnyOrder(k.iommu().device(0), k.iommu().device(1));
            long g = k.granule();
            long pa = k.pages(g);
            long iova = iovaBase(d, g);
            d.map(iova, pa, g, Prot.READ_WRITE);
            k.iommu().device(0).write(iova, new byte[] {5});
            assertThat(k.iommu().device(1).read(iova, 1))
                    .as(rule("streams sharing a domain see the same memory"))
                    .containsExactly(5);
            k.iommu().device(1).read(iova, 1);
            d.unmap(iova, g);
            d.flushIotlb();
            for (int sid = 0; sid < 2; sid++) {
                int s = sid;
                faults(
                        "flushIotlb invalidates every stream attached to the domain",
                        "a read by stream " + sid + " after unmap and flush",
                        () -> k.iommu().device(s).read(iova, 1));
            }
        });
    }

    /**
     * Checks {@link KitRule#STREAM_3}.
     */
    @Test
    @Checks(KitRule.STREAM_3)
    default void attachToForeignDomainRefused() {
        KitFixture k = kit();
        Iommu other = k.secondUnit();
        IommuDomain foreign = k.domain(other);
        refuses(
                "attach to a domain of another IOMMU is refused",
                InvalidArgumentException.class,
                "device(0).attach(domain of another unit)",
                () -> {
                    k.iommu().device(0).attach(foreign);
                    return null;
                });
        assertThat(k.iommu().device(0).domain())
                .as(rule("a refused attach changes nothing"))
                .isEmpty();
    }

    /**
     * Checks {@link KitRule#STREAM_4} where the backend declares bypass; generates no test otherwise.
     *
     * @return the check, if the rule applies
     */
    @TestFactory
    @Checks(KitRule.STREAM_4)
    default Stream<DynamicTest> identityDomainPassesThrough() {
        KitFixture k = kit();
        return k.onlyIf(k.capabilities().bypass(), () -> {
            IommuDomain id;
            try {
                id = k.closeLater(k.iommu().createDomain(DomainType.IDENTITY));
            } catch (InvalidArgumentException e) {
                throw new AssertionError(
                        rule("a unit declaring bypass creates identity domains")
                                + " broken: createDomain(IDENTITY) threw " + e,
                        e);
            }
            k.iommu().device(0).attach(id);
            long pa = k.pages(k.granule());
            assertThat(k.iommu().walk(0, pa + 8).map(Translation::pa))
                    .as(rule("an identity domain translates every address" + " to itself"))
                    .contains(pa + 8);
            k.iommu().device(0).write(pa + 8, new byte[] {3});
            assertThat(k.memory().read(pa + 8, 1))
                    .as(rule("an identity domain passes device writes through"))
                    .containsExactly(3);
        });
    }

    /**
     * Checks {@link KitRule#STREAM_5} where the backend declares no bypass; generates no test
     * otherwise.
     *
     * @return the check, if the rule applies
     */
    @TestFactory
    @Checks(KitRule.STREAM_5)
    default Stream<DynamicTest> identityDomainRefusedWithoutBypass() {
        KitFixture k = kit();
        return k.onlyIf(!k.capabilities().bypass(), () -> {
            refuses(
                    "a unit without bypass refuses identity domains",
                    InvalidArgumentException.class,
                    "createDomain(IDENTITY)",
                    () -> k.closeLater(k.iommu().createDomain(DomainType.IDENTITY)));
        });
    }
}
