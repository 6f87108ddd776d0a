package org.dmashare.testkit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.dmashare.testkit.DmaShareAssertions.assertThat;
import static org.dmashare.testkit.KitFixture.refuses;
import static org.dmashare.testkit.KitFixture.requireSetup;
import static org.dmashare.testkit.KitFixture.rule;

import java.util.List;
import java.util.stream.Stream;
import org.dmashare.Hex;
import org.dmashare.ObjectClosedException;
import org.dmashare.iommu.IommuDomain;
import org.dmashare.iommu.Prot;
import org.dmashare.iommu.support.PagingDomain;
import org.dmashare.memory.FailureInjector;
import org.dmashare.memory.PageAllocator;
import org.dmashare.memory.PageUse;
import org.dmashare.testkit.KitFixture.State;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

/**
 * The kit's rules about page-table pages come from, and go back to, the memory's page allocator:
 * TABLE-1 to TABLE-5, each stated in {@link KitRule}. A topic of {@link
 * IommuBackendConformanceKit}, which implements it, so that its checks run, and report, under the
 * backend author's test class; each check reaches its fresh {@link KitFixture} through {@link
 * #kit()}.
 */
public interface TablePageRules extends KitTopic {

    /**
     * Checks {@link KitRule#TABLE_1}.
     */
    @Test
    @Checks(KitRule.TABLE_1)
    default void tablesComeFromAllocator() {
        KitFixture k = kit();
        PageAllocator.Usage before = k.memory().allocator().usage();
        IommuDomain d = k.attachedDomain(0);
        long g = k.granule();
        long pa = k.pages(g);
        for (long iova : k.scattered(d)) {
            d.map(iova, pa, g, Prot.READ_WRITE);
        }
        PageAllocator.Usage after = k.memory().allocator().usage();
        assertThat(after.tableBytes())
                .as(rule("page tables are allocated from the memory's page allocator as" + " PAGE_TABLE")
                        + ": table bytes before " + Hex.of(before.tableBytes()) + ", after a domain and "
                        + "three maps " + Hex.of(after.tableBytes()))
                .isGreaterThan(before.tableBytes());
    }

    /**
     * Checks {@link KitRule#TABLE_2}.
     */
    @Test
    @Checks(KitRule.TABLE_2)
    default void closeReturnsEveryTablePage() {
        KitFixture k = kit();
        List<PageAllocator.Block> before = k.memory().allocator().allocatedBlocks();
        IommuDomain d = k.iommu().createDomain();
        k.iommu().device(0).attach(d);
        long g = k.granule();
        long pa = k.memory().allocator().allocate(Math.max(g, k.memory().pageSize()), PageUse.BUFFER);
        for (long iova : k.scattered(d)) {
            d.map(iova, pa, g, Prot.READ_WRITE);
        }
        d.close();
        d.close();
        assertThat(d.isClosed()).as(rule("a closed domain says so")).isTrue();
        assertThat(k.iommu().device(0).domain())
                .as(rule("closing a domain detaches its devices"))
                .isEmpty();
        k.memory().allocator().free(pa, Math.max(g, k.memory().pageSize()));
        assertThat(k.memory().allocator().allocatedBlocks())
                .as(rule("closing a domain returns every table page to the" + " page allocator"))
                .isEqualTo(before);
    }

    /**
     * Checks {@link KitRule#TABLE_3} on a domain whose tables the kit can read (a {@link
     * PagingDomain}, as every backend built on the SPI's support classes has); generates no test
     * for a domain of another kind.
     *
     * @return the check, if the rule applies
     */
    @TestFactory
    @Checks(KitRule.TABLE_3)
    default Stream<DynamicTest> tablesLiveAsDeclared() {
        KitFixture k = kit();
        return k.onlyIf(
                k.domain(k.iommu()) instanceof PagingDomain,
                () -> TableLifetimeRules.check(k.memory(), k.attachedDomain(0), k.capabilities()));
    }

    /**
     * Checks {@link KitRule#TABLE_4}.
     */
    @Test
    @Checks(KitRule.TABLE_4)
    default void failedMapChangesNothing() {
        KitFixture k = kit();
        IommuDomain d = k.attachedDomain(0);
        long g = k.granule();
        long boundary = 1L << 30;
        while (boundary > 2 * g && (boundary - g < Math.max(d.apertureStart(), g) || boundary + g > d.apertureEnd())) {
            boundary >>= 1;
        }
        requireSetup(
                boundary > 2 * g,
                "aperture too small for a map across a table boundary: declare a larger" + " aperture");
        long iova = boundary - g;
        long pa = k.pages(2 * g);
        String r = "a map that fails partway (table page or map failure) changes nothing";
        for (FailureInjector.Point point :
                List.of(FailureInjector.Point.TABLE_PAGE_ALLOCATION, FailureInjector.Point.MAP)) {
            for (int n = 1; n <= 16; n++) {
                State before = k.state(0, iova, iova + g);
                k.memory().failures().failNth(point, n);
                boolean failed = false;
                try {
                    d.map(iova, pa, 2 * g, Prot.READ_WRITE);
                } catch (RuntimeException e) {
                    failed = true;
                }
                boolean pending = k.memory().failures().pending(point);
                k.memory().failures().clear();
                if (failed) {
                    k.unchanged(
                            r,
                            "map(" + Hex.of(iova) + ", " + Hex.of(pa) + ", " + Hex.of(2 * g) + ") failing at the " + n
                                    + "th " + point,
                            before,
                            0,
                            iova,
                            iova + g);
                    continue;
                }
                assertThat(pending)
                        .as(rule(r) + " broken: the injected " + point + " failure #" + n + " fired but map("
                                + Hex.of(iova) + ") succeeded anyway")
                        .isTrue();
                if (point == FailureInjector.Point.MAP && n == 1) {
                    throw new AssertionError(rule(r) + " broken: map(" + Hex.of(iova) + ", " + Hex.of(pa) + ", "
                            + Hex.of(2 * g) + ") succeeded with a MAP failure injected for that very call: the domain"
                            + " never honours an injected map failure (every map must call"
                            + " memory.failures().check(MAP) before changing anything)");
                }
                assertThat(d).translatesRange(iova, pa, 2 * g);
                d.unmap(iova, 2 * g);
                break;
            }
        }
    }

    /**
     * Checks {@link KitRule#TABLE_5}.
     */
    @Test
    @Checks(KitRule.TABLE_5)
    default void closedDomainRefusesUse() {
        KitFixture k = kit();
        IommuDomain d = k.iommu().createDomain();
        d.close();
        long g = k.granule();
        refuses("a closed domain refuses map", ObjectClosedException.class, "map on a closed domain", () -> {
            d.map(g, k.memory().base(), g, Prot.READ_WRITE);
            return null;
        });
        refuses(
                "a closed domain refuses unmap",
                ObjectClosedException.class,
                "unmap on a closed domain",
                () -> d.unmap(g, g));
        refuses(
                "attach to a closed domain is refused",
                ObjectClosedException.class,
                "attach to a closed domain",
                () -> {
                    k.iommu().device(0).attach(d);
                    return null;
                });
    }
}
