package org.dmashare.testkit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.dmashare.testkit.DmaShareAssertions.assertThat;
import static org.dmashare.testkit.KitFixture.iovaBase;
import static org.dmashare.testkit.KitFixture.refuses;
import static org.dmashare.testkit.KitFixture.rule;

import java.util.stream.Stream;
import org.dmashare.Hex;
import org.dmashare.InvalidArgumentException;
import org.dmashare.MappingConflictException;
import org.dmashare.iommu.IommuDomain;
import org.dmashare.iommu.Prot;
import org.dmashare.pgtable.UnmapPolicy;
import org.dmashare.testkit.KitFixture.State;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

/**
 * The kit's rules about unmap: whole mappings only, bytes returned, holes skipped: UNMAP-1 to
 * UNMAP-7, each stated in {@link KitRule}. A topic of {@link IommuBackendConformanceKit}, which
 * implements it, so that its checks run, and report, under the backend author's test class; each
 * check reaches its fresh {@link KitFixture} through {@link #kit()}.
 */
public interface UnmapRules extends KitTopic {

    /**
     * Checks {@link KitRule#UNMAP_1}.
     */
    @Test
    @Checks(KitRule.UNMAP_1)
    default void unmapReturnsBytesUnmapped() {
        KitFixture k = kit();
        IommuDomain d = k.attachedDomain(0);
        long g = k.granule();
        long pa = k.pages(4 * g);
        long iova = iovaBase(d, g);
        d.map(iova, pa, 4 * g, Prot.READ_WRITE);
        long n = d.unmap(iova, 4 * g);
        assertThat(n)
                .as(rule("unmap returns the bytes unmapped") + ": unmap(" + Hex.of(iova) + ", " + Hex.size(4 * g)
                        + ") returned " + Hex.of(n))
                .isEqualTo(4 * g);
        assertThat(d).as(rule("unmap removes the translations")).doesNotTranslateAnyOf(iova, 4 * g);
        assertThat(d.iovaToPhys(iova))
                .as(rule("iovaToPhys of an unmapped IOVA is NO_TRANSLATION"))
                .isEqualTo(IommuDomain.NO_TRANSLATION);
    }

    /**
     * Checks {@link KitRule#UNMAP_2}.
     */
    @Test
    @Checks(KitRule.UNMAP_2)
    default void unmapSkipsHoles() {
        KitFixture k = kit();
        IommuDomain d = k.attachedDomain(0);
        long g = k.granule();
        long pa = k.pages(8 * g);
        long iova = iovaBase(d, g);
        d.map(iova + g, pa, g, Prot.READ_WRITE);
        d.map(iova + 4 * g, pa + 4 * g, 2 * g, Prot.READ_WRITE);
        long n = d.unmap(iova, 8 * g);
        assertThat(n)
                .as(rule("unmap skips unmapped parts and returns only the bytes that were mapped")
                        + ": unmap(" + Hex.of(iova) + ", " + Hex.size(8 * g) + ") over 3 mapped granules returned "
                        + Hex.of(n))
                .isEqualTo(3 * g);
        assertThat(d.unmap(iova, 8 * g))
                .as(rule("unmap of an empty range returns 0"))
                .isZero();
        assertThat(d).doesNotTranslateAnyOf(iova, 8 * g);
    }

    /**
     * Checks {@link KitRule#UNMAP_3}.
     */
    @Test
    @Checks(KitRule.UNMAP_3)
    default void unmapOfOnePageKeepsNeighbours() {
        KitFixture k = kit();
        IommuDomain d = k.attachedDomain(0);
        long g = k.granule();
        long pa = k.pages(4 * g);
        long iova = iovaBase(d, 4 * g) + g;
        d.map(iova, pa, 3 * g, Prot.READ_WRITE);
        assertThat(d.unmap(iova + g, g))
                .as(rule("unmap of one whole granule page of a page run is allowed"))
                .isEqualTo(g);
        assertThat(d).as(rule("unmap removes only its range")).translates(iova).to(pa);
        assertThat(d)
                .as(rule("unmap removes only its range"))
                .doesNotTranslate(iova + g)
                .translates(iova + 2 * g)
                .to(pa + 2 * g);
    }

    /**
     * Checks {@link KitRule#UNMAP_4} where the backend declares block mappings and the REFUSE_CUT
     * unmap policy; generates no test otherwise.
     *
     * @return the check, if the rule applies
     */
    @TestFactory
    @Checks(KitRule.UNMAP_4)
    default Stream<DynamicTest> unmapRefusesToCutBlock() {
        KitFixture k = kit();
        return k.onlyIf(
                k.capabilities().blockMappings() && k.capabilities().unmapPolicy() == UnmapPolicy.REFUSE_CUT, () -> {
                    IommuDomain d = k.attachedDomain(0);
                    long g = k.granule();
                    long block = k.blockSize(d);
                    long pa = k.pages(block);
                    long iova = iovaBase(d, block);
                    d.map(iova, pa, block, Prot.READ_WRITE);
                    String r = "unmap must cover whole mappings: cutting a block fails and changes nothing";
                    long[][] cuts = {{iova, g}, {iova + g, block - g}, {iova + block - g, 2 * g}, {iova - g, 2 * g}};
                    for (long[] c : cuts) {
                        if (c[0] < d.apertureStart()) {
                            continue;
                        }
                        State before = k.state(0, iova, iova + block - g);
                        String call = "unmap(" + Hex.of(c[0]) + ", " + Hex.of(c[1]) + ") of the " + Hex.size(block)
                                + " block at "
                                + Hex.of(iova);
                        refuses(r, MappingConflictException.class, call, () -> d.unmap(c[0], c[1]));
                        k.unchanged(r, call, before, 0, iova, iova + block - g);
                    }
                    String kept =
                            "the declared unmap policy REFUSE_CUT: an unmap starting at a block's first byte but ending"
                                    + " inside it is refused";
                    assertThat(d)
                            .as(rule(kept))
                            .translates(iova + block - g)
                            .to(pa + block - g)
                            .withLeafSize(block);
                });
    }

    /**
     * Checks {@link KitRule#UNMAP_5} where the backend declares block mappings and the
     * WHOLE_ENTRY_FROM_START unmap policy; generates no test otherwise.
     *
     * @return the check, if the rule applies
     */
    @TestFactory
    @Checks(KitRule.UNMAP_5)
    default Stream<DynamicTest> unmapFromBlockStartRemovesWholeBlock() {
        KitFixture k = kit();
        return k.onlyIf(
                k.capabilities().blockMappings()
                        && k.capabilities().unmapPolicy() == UnmapPolicy.WHOLE_ENTRY_FROM_START,
                () -> {
                    IommuDomain d = k.attachedDomain(0);
                    long g = k.granule();
                    long block = k.blockSize(d);
                    long pa = k.pages(block);
                    long iova = iovaBase(d, block);
                    d.map(iova, pa, block, Prot.READ_WRITE);
                    String r = "unmap must cover whole mappings: cutting a block fails and changes nothing";
                    long[][] cuts = {{iova, g}, {iova + g, block - g}, {iova + block - g, 2 * g}, {iova - g, 2 * g}};
                    for (long[] c : cuts) {
                        if (c[0] < d.apertureStart()) {
                            continue;
                        }
                        if (c[0] <= iova && iova < c[0] + c[1]) {
                            continue; // the block starts inside the range: this policy removes it whole (checked below)
                        }
                        State before = k.state(0, iova, iova + block - g);
                        String call = "unmap(" + Hex.of(c[0]) + ", " + Hex.of(c[1]) + ") of the " + Hex.size(block)
                                + " block at "
                                + Hex.of(iova);
                        refuses(r, MappingConflictException.class, call, () -> d.unmap(c[0], c[1]));
                        k.unchanged(r, call, before, 0, iova, iova + block - g);
                    }
                    String w =
                            "the declared unmap policy WHOLE_ENTRY_FROM_START: an unmap starting at a block's first byte"
                                    + " removes the whole block and returns its size";
                    long n = d.unmap(iova, g);
                    assertThat(n)
                            .as(rule(w) + ": unmap(" + Hex.of(iova) + ", " + Hex.size(g) + ") of the " + Hex.size(block)
                                    + " block returned " + Hex.of(n))
                            .isEqualTo(block);
                    assertThat(d).as(rule(w)).doesNotTranslateAnyOf(iova, block);
                });
    }

    /**
     * Checks {@link KitRule#UNMAP_6} where the backend declares no block mappings; generates no test
     * otherwise.
     *
     * @return the check, if the rule applies
     */
    @TestFactory
    @Checks(KitRule.UNMAP_6)
    default Stream<DynamicTest> unmapCutsPageRunWithoutBlocks() {
        KitFixture k = kit();
        return k.onlyIf(!k.capabilities().blockMappings(), () -> {
            IommuDomain d = k.attachedDomain(0);
            long g = k.granule();
            long block = k.blockSize(d);
            // Translation only, no DMA: the physical range need not be allocated, only inside memory.
            long p0 = (k.memory().base() + block - 1) & -block;
            long iova = iovaBase(d, block);
            d.map(iova, p0, block, Prot.READ_WRITE);
            long mid = iova + block / 2;
            String r = "without block mappings, unmap of one granule from the middle of a block-sized range succeeds"
                    + " and leaves the rest mapped";
            String call = "unmap(" + Hex.of(mid) + ", " + Hex.size(g) + ") of the " + Hex.size(block) + " range at "
                    + Hex.of(iova);
            long n;
            try {
                n = d.unmap(mid, g);
            } catch (RuntimeException e) {
                throw new AssertionError(rule(r) + " broken: " + call + " threw " + e, e);
            }
            assertThat(n)
                    .as(rule(r) + " broken: " + call + " returned " + Hex.of(n))
                    .isEqualTo(g);
            assertThat(d).as(rule(r) + ": " + call).doesNotTranslate(mid);
            k.granulePagesOnly(r, call, iova, p0, block / 2);
            k.granulePagesOnly(r, call, mid + g, p0 + block / 2 + g, block / 2 - g);
        });
    }

    /**
     * Checks {@link KitRule#UNMAP_7}.
     */
    @Test
    @Checks(KitRule.UNMAP_7)
    default void unmapRefusesMisalignment() {
        KitFixture k = kit();
        IommuDomain d = k.attachedDomain(0);
        long g = k.granule();
        long pa = k.pages(2 * g);
        long iova = iovaBase(d, g);
        d.map(iova, pa, 2 * g, Prot.READ_WRITE);
        String r = "unmap refuses a misaligned IOVA or size and changes nothing";
        long[][] bad = {{iova + g / 2, g}, {iova, g / 2}, {iova, 0}};
        for (long[] a : bad) {
            State before = k.state(0, iova, iova + g);
            String call = "unmap(" + Hex.of(a[0]) + ", " + Hex.of(a[1]) + ")";
            refuses(r, InvalidArgumentException.class, call, () -> d.unmap(a[0], a[1]));
            k.unchanged(r, call, before, 0, iova, iova + g);
        }
    }
}
