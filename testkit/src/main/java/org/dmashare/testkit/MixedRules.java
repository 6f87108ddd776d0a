package org.dmashare.testkit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.dmashare.testkit.DmaShareAssertions.assertThat;
import static org.dmashare.testkit.KitFixture.faults;
import static org.dmashare.testkit.KitFixture.pattern;
import static org.dmashare.testkit.KitFixture.refuses;
import static org.dmashare.testkit.KitFixture.rule;

import java.util.List;
import java.util.stream.Stream;
import org.dmashare.GranuleMismatchException;
import org.dmashare.Hex;
import org.dmashare.iommu.IommuDomain;
import org.dmashare.sharing.DmaSharing;
import org.dmashare.sharing.ShareOptions;
import org.dmashare.sharing.SharedBuffer;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

/**
 * The kit's rules about the sharing helper mixing this backend with the generic one: MIXED-1 to
 * MIXED-4, each stated in {@link KitRule}. A topic of {@link IommuBackendConformanceKit}, which
 * implements it, so that its checks run, and report, under the backend author's test class; each
 * check reaches its fresh {@link KitFixture} through {@link #kit()}.
 */
public interface MixedRules extends KitTopic {

    /**
     * Checks {@link KitRule#MIXED_1}.
     */
    @Test
    @Checks(KitRule.MIXED_1)
    default void sharedWithGenericIsContiguous() {
        KitFixture k = kit();
        IommuDomain mine = k.attachedDomain(0);
        DmaSharing sharing = k.newSharing();
        IommuDomain small = k.partnerDomain("lpae-4k");
        IommuDomain large = k.partnerDomain("lpae-64k");
        try (SharedBuffer b = sharing.allocate(100 * 1024, List.of(mine, small, large))) {
            assertThat(b.alignment())
                    .as(rule("A is the largest granule of all domains"))
                    .isEqualTo(Math.max(
                            Math.max(k.granule(), 64 * 1024L), k.memory().pageSize()));
            assertThat(b)
                    .isContiguousIn(mine)
                    .isContiguousIn(small)
                    .isContiguousIn(large)
                    .isAligned()
                    .hasNoOverExposure();
            byte[] data = pattern(4096, 1);
            large.devices().iterator().next().write(b.iova(large) + 4096, data);
            assertThat(k.iommu().device(0).read(b.iova(mine) + 4096, data.length))
                    .as(rule("a device of this backend sees a generic device's writes"))
                    .isEqualTo(data);
        }
    }

    /**
     * Checks {@link KitRule#MIXED_2} where a generic partner (4 KiB or 64 KiB granule) has a granule
     * larger than this backend's and the CPU page; generates no test otherwise.
     *
     * @return the check, if the rule applies
     */
    @TestFactory
    @Checks(KitRule.MIXED_2)
    default Stream<DynamicTest> lateSharingIntoLargerGranuleRefused() {
        KitFixture k = kit();
        return k.onlyIf(largerPartnerGranuleExists(k), () -> {
            IommuDomain mine = k.attachedDomain(0);
            DmaSharing sharing = k.newSharing();
            IommuDomain small = k.partnerDomain("lpae-4k");
            IommuDomain large = k.partnerDomain("lpae-64k");
            IommuDomain from = k.granule() < 64 * 1024 ? mine : small;
            IommuDomain to = k.granule() < 64 * 1024 ? large : mine;
            try (SharedBuffer b = sharing.allocate(from.granule(), List.of(from))) {
                GranuleMismatchException e = refuses(
                        "late sharing into a domain whose granule does not divide A fails",
                        GranuleMismatchException.class,
                        "shareWith(" + to + ")",
                        () -> b.shareWith(to));
                assertThat(e.getMessage())
                        .as(rule("the granule error names both sizes"))
                        .contains(Hex.size(b.alignment()))
                        .contains(Hex.size(to.granule()));
                assertThat(b.isMappedIn(to))
                        .as(rule("a refused late share maps nothing"))
                        .isFalse();
            }
        });
    }

    /**
     * Checks {@link KitRule#MIXED_3}.
     */
    @Test
    @Checks(KitRule.MIXED_3)
    default void futureDomainMakesLateSharingWork() {
        KitFixture k = kit();
        IommuDomain mine = k.attachedDomain(0);
        DmaSharing sharing = k.newSharing();
        IommuDomain large = k.partnerDomain("lpae-64k");
        ShareOptions later = ShareOptions.builder().futureDomains(large).build();
        try (SharedBuffer b = sharing.allocate(k.granule(), List.of(mine), later)) {
            b.shareWith(large);
            assertThat(b)
                    .as(rule("a buffer allocated for a declared future domain can be shared with it"))
                    .isContiguousIn(mine)
                    .isContiguousIn(large)
                    .isAligned()
                    .hasNoOverExposure();
        }
    }

    /**
     * Checks {@link KitRule#MIXED_4}.
     */
    @Test
    @Checks(KitRule.MIXED_4)
    default void closingMixedBufferLeavesNothing() {
        KitFixture k = kit();
        IommuDomain mine = k.attachedDomain(0);
        DmaSharing sharing = k.newSharing();
        IommuDomain small = k.partnerDomain("lpae-4k");
        long bufferBytes = k.memory().allocator().usage().bufferBytes();
        SharedBuffer b = sharing.allocate(3 * k.granule(), List.of(mine, small));
        long a = b.iova(mine);
        long s = b.iova(small);
        k.iommu().device(0).read(a, 8);
        small.devices().iterator().next().read(s, 8);
        b.close();
        assertThat(mine).as(rule("close unmaps from every domain")).doesNotTranslateAnyOf(a, b.length());
        assertThat(small).as(rule("close unmaps from every domain")).doesNotTranslateAnyOf(s, b.length());
        faults(
                "close flushes every IOTLB",
                "a read by this backend's device after close",
                () -> k.iommu().device(0).read(a, 1));
        faults(
                "close flushes every IOTLB",
                "a read by the generic device after close",
                () -> small.devices().iterator().next().read(s, 1));
        assertThat(k.memory().allocator().usage().bufferBytes())
                .as(rule("close returns the pages"))
                .isEqualTo(bufferBytes);
    }

    /**
     * Whether a partner granule exceeds both this backend's granule and the CPU page: the partners
     * are {@code lpae-4k} and {@code lpae-64k}, so the larger side is 64 KiB, or this backend's own
     * granule when it is 64 KiB or more.
     */
    private static boolean largerPartnerGranuleExists(KitFixture k) {
        long g = k.granule();
        long from = g < 64 * 1024 ? g : 4096;
        long to = g < 64 * 1024 ? 64 * 1024 : g;
        return to > Math.max(from, k.memory().pageSize());
    }
}
