package org.dmashare.testkit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;
import static org.dmashare.testkit.DmaShareAssertions.assertThat;
import static org.dmashare.testkit.KitFixture.iovaBase;
import static org.dmashare.testkit.KitFixture.refuses;
import static org.dmashare.testkit.KitFixture.requireSetup;
import static org.dmashare.testkit.KitFixture.rule;

import java.util.List;
import java.util.NavigableMap;
import java.util.Optional;
import java.util.Random;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.dmashare.Hex;
import org.dmashare.InvalidArgumentException;
import org.dmashare.MappingConflictException;
import org.dmashare.iommu.Access;
import org.dmashare.iommu.IommuDomain;
import org.dmashare.iommu.Prot;
import org.dmashare.iommu.Translation;
import org.dmashare.memory.PageAllocator;
import org.dmashare.pgtable.UnmapPolicy;
import org.dmashare.testkit.KitFixture.State;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

/**
 * The kit's rules about map and iova-to-phys: MAP-1 to MAP-14, each stated in {@link KitRule}. A
 * topic of {@link IommuBackendConformanceKit}, which implements it, so that its checks run, and
 * report, under the backend author's test class; each check reaches its fresh {@link KitFixture}
 * through {@link #kit()}.
 */
public interface MapRules extends KitTopic {

    /**
     * Checks {@link KitRule#MAP_1}.
     */
    @Test
    @Checks(KitRule.MAP_1)
    default void mapTranslatesEveryGranule() {
        KitFixture k = kit();
        IommuDomain d = k.attachedDomain(0);
        long g = k.granule();
        long pa = k.pages(4 * g);
        long iova = iovaBase(d, g) + 3 * g;
        d.map(iova, pa + g, 3 * g, Prot.READ_WRITE);
        for (long o = 0; o < 3 * g; o += g / 2) {
            assertThat(d)
                    .as(rule("map makes every byte translate to its physical address") + ": map(" + Hex.of(iova) + ", "
                            + Hex.of(pa + g) + ", " + Hex.size(3 * g) + ")")
                    .translates(iova + o)
                    .to(pa + g + o);
        }
        assertThat(d)
                .as(rule("map touches nothing outside its range"))
                .doesNotTranslate(iova - g)
                .doesNotTranslate(iova + 3 * g);
    }

    /**
     * Checks {@link KitRule#MAP_2}.
     */
    @Test
    @Checks(KitRule.MAP_2)
    default void iovaToPhysAgreesWithWalk() {
        KitFixture k = kit();
        IommuDomain d = k.attachedDomain(0);
        long g = k.granule();
        long pa = k.pages(2 * g);
        long iova = iovaBase(d, g);
        d.map(iova, pa, 2 * g, Prot.READ_WRITE);
        for (long at : new long[] {iova - g, iova, iova + 123, iova + g + g / 2, iova + 2 * g}) {
            if (at < d.apertureStart()) {
                continue;
            }
            long sw = d.iovaToPhys(at);
            long hw = k.iommu().walk(0, at).map(Translation::pa).orElse(IommuDomain.NO_TRANSLATION);
            assertThat(sw)
                    .as(rule("iovaToPhys agrees with the hardware walk") + ": at IOVA " + Hex.of(at)
                            + " iovaToPhys says " + Hex.of(sw) + ", the walk says " + Hex.of(hw))
                    .isEqualTo(hw);
        }
    }

    /**
     * Checks {@link KitRule#MAP_3}.
     */
    @Test
    @Checks(KitRule.MAP_3)
    default void mapRefusesMisalignment() {
        KitFixture k = kit();
        IommuDomain d = k.attachedDomain(0);
        long g = k.granule();
        long pa = k.pages(2 * g);
        long iova = iovaBase(d, g);
        String r = "map refuses misaligned IOVA, physical address or size and changes nothing";
        long[][] bad = {
            {iova + g / 2, pa, g},
            {iova, pa + g / 2, g},
            {iova, pa, g / 2},
            {iova, pa, g + g / 2},
            {iova, pa, 0},
            {iova, pa, -g}
        };
        for (long[] a : bad) {
            State before = k.state(0, iova, iova + g);
            String call = "map(" + Hex.of(a[0]) + ", " + Hex.of(a[1]) + ", " + Hex.of(a[2]) + ")";
            refuses(r, InvalidArgumentException.class, call, () -> {
                d.map(a[0], a[1], a[2], Prot.READ_WRITE);
                return null;
            });
            k.unchanged(r, call, before, 0, iova, iova + g);
        }
    }

    /**
     * Checks {@link KitRule#MAP_4}.
     */
    @Test
    @Checks(KitRule.MAP_4)
    default void mapRefusesPhysicalRangeOutsideMemory() {
        KitFixture k = kit();
        IommuDomain d = k.attachedDomain(0);
        long g = k.granule();
        long iova = iovaBase(d, g);
        String r = "map refuses a physical range outside memory";
        for (long pa :
                new long[] {k.memory().end(), k.memory().end() - g, k.memory().base() - g}) {
            long size = pa == k.memory().end() - g ? 2 * g : g;
            if (pa < 0) {
                continue;
            }
            State before = k.state(0, iova);
            String call = "map(" + Hex.of(iova) + ", " + Hex.of(pa) + ", " + Hex.of(size) + ")";
            refuses(r, InvalidArgumentException.class, call, () -> {
                d.map(iova, pa, size, Prot.READ_WRITE);
                return null;
            });
            k.unchanged(r, call, before, 0, iova);
        }
    }

    /**
     * Checks {@link KitRule#MAP_5}.
     */
    @Test
    @Checks(KitRule.MAP_5)
    default void mapRefusesNoAccessRights() {
        KitFixture k = kit();
        IommuDomain d = k.attachedDomain(0);
        long g = k.granule();
        long pa = k.pages(g);
        long iova = iovaBase(d, g);
        String r = "map refuses rights that allow neither read nor write";
        State before = k.state(0, iova);
        refuses(r, InvalidArgumentException.class, "map(.., prot ---)", () -> {
            d.map(iova, pa, g, new Prot(false, false, false, false));
            return null;
        });
        k.unchanged(r, "map(.., prot ---)", before, 0, iova);
    }

    /**
     * Checks {@link KitRule#MAP_6}.
     */
    @Test
    @Checks(KitRule.MAP_6)
    default void mapRefusesOverlap() {
        KitFixture k = kit();
        IommuDomain d = k.attachedDomain(0);
        long g = k.granule();
        long pa = k.pages(8 * g);
        long iova = iovaBase(d, g) + 2 * g;
        d.map(iova, pa, 2 * g, Prot.READ_WRITE);
        String r = "map fails on an existing valid entry and changes nothing";
        long[][] overlaps = {{iova, g}, {iova + g, g}, {iova - g, 2 * g}, {iova + g, 2 * g}, {iova - g, 4 * g}};
        for (long[] o : overlaps) {
            State before = k.state(0, iova - g, iova, iova + g, iova + 2 * g);
            String call = "map(" + Hex.of(o[0]) + ", " + Hex.of(pa + 4 * g) + ", " + Hex.of(o[1])
                    + ") over the mapping " + Hex.range(iova, 2 * g);
            refuses(r, MappingConflictException.class, call, () -> {
                d.map(o[0], pa + 4 * g, o[1], Prot.READ_WRITE);
                return null;
            });
            k.unchanged(r, call, before, 0, iova - g, iova, iova + g, iova + 2 * g);
        }
    }

    /**
     * Checks {@link KitRule#MAP_7}.
     */
    @Test
    @Checks(KitRule.MAP_7)
    default void everyPageSizeMapsAsOneLeaf() {
        KitFixture k = kit();
        IommuDomain d = k.attachedDomain(0);
        long g = k.granule();
        String r = "every declared page size is mapped as one leaf of that size, at the bottom and at the top of the"
                + " aperture";
        int checked = 0;
        for (long rest = k.capabilities().pageSizes(); rest != 0; rest &= rest - 1) {
            long size = Long.lowestOneBit(rest);
            // Translation only, no DMA: the physical range need not be allocated, only inside memory.
            long pa = (k.memory().base() + size - 1) & -size;
            long low = iovaBase(d, size);
            long high = (d.apertureEnd() - size) & -size;
            if (!k.memory().contains(pa, size) || high < low) {
                continue; // larger than the kit's memory or the aperture: cannot be exercised here
            }
            for (long iova : high > low ? new long[] {low, high} : new long[] {low}) {
                String call = "map(" + Hex.of(iova) + ", " + Hex.of(pa) + ", " + Hex.size(size) + ")";
                d.map(iova, pa, size, Prot.READ_WRITE);
                assertThat(d)
                        .as(rule(r) + ": " + call + ", first byte")
                        .translates(iova)
                        .to(pa)
                        .withLeafSize(size);
                assertThat(d)
                        .as(rule(r) + ": " + call + ", middle byte")
                        .translates(iova + size / 2 + 1)
                        .to(pa + size / 2 + 1)
                        .withLeafSize(size);
                assertThat(d)
                        .as(rule(r) + ": " + call + ", last byte")
                        .translates(iova + size - 1)
                        .to(pa + size - 1)
                        .withLeafSize(size);
                long n = d.unmap(iova, size);
                assertThat(n)
                        .as(rule("unmap returns the bytes unmapped") + ": unmap(" + Hex.of(iova) + ", " + Hex.size(size)
                                + ") returned " + Hex.of(n))
                        .isEqualTo(size);
                assertThat(d)
                        .as(rule(r) + ": after unmap")
                        .doesNotTranslate(iova)
                        .doesNotTranslate(iova + size - 1);
            }
            checked++;
        }
        requireSetup(checked > 0, "no declared page size fits the memory and the aperture: override createMemory()");
    }

    /**
     * Checks {@link KitRule#MAP_8} where the backend declares block mappings; generates no test
     * otherwise.
     *
     * @return the check, if the rule applies
     */
    @TestFactory
    @Checks(KitRule.MAP_8)
    default Stream<DynamicTest> mapUsesBlockLeaves() {
        KitFixture k = kit();
        return k.onlyIf(k.capabilities().blockMappings(), () -> {
            IommuDomain d = k.attachedDomain(0);
            long block = k.blockSize(d);
            long pa = k.pages(block);
            long iova = iovaBase(d, block);
            d.map(iova, pa, block, Prot.READ_WRITE);
            assertThat(d)
                    .as(rule("map uses the largest page size that alignment and length allow") + ": map(" + Hex.of(iova)
                            + ", " + Hex.of(pa) + ", " + Hex.size(block) + ")")
                    .translates(iova + block / 2)
                    .to(pa + block / 2)
                    .withLeafSize(block);
            assertThat(d.unmap(iova, block))
                    .as(rule("unmap returns the bytes unmapped"))
                    .isEqualTo(block);
        });
    }

    /**
     * Checks {@link KitRule#MAP_9} where the backend declares no block mappings; generates no test
     * otherwise.
     *
     * @return the check, if the rule applies
     */
    @TestFactory
    @Checks(KitRule.MAP_9)
    default Stream<DynamicTest> mapUsesGranulePagesWithoutBlocks() {
        KitFixture k = kit();
        return k.onlyIf(!k.capabilities().blockMappings(), () -> {
            IommuDomain d = k.attachedDomain(0);
            long block = k.blockSize(d);
            // Translation only, no DMA: the physical range need not be allocated, only inside memory.
            long p0 = (k.memory().base() + block - 1) & -block;
            long iova = iovaBase(d, block);
            d.map(iova, p0, block, Prot.READ_WRITE);
            k.granulePagesOnly(
                    "without block mappings, map uses granule pages even where a block would fit",
                    "map(" + Hex.of(iova) + ", " + Hex.of(p0) + ", " + Hex.size(block) + ")",
                    iova,
                    p0,
                    block);
            assertThat(d.unmap(iova, block))
                    .as(rule("unmap returns the bytes unmapped"))
                    .isEqualTo(block);
        });
    }

    /**
     * Checks {@link KitRule#MAP_10} where the backend declares block mappings; generates no test
     * otherwise.
     *
     * @return the check, if the rule applies
     */
    @TestFactory
    @Checks(KitRule.MAP_10)
    default Stream<DynamicTest> straddlingRangeGetsBlockInside() {
        KitFixture k = kit();
        return k.onlyIf(k.capabilities().blockMappings(), () -> {
            IommuDomain d = k.attachedDomain(0);
            long g = k.granule();
            long block = k.blockSize(d);
            // Translation only, no DMA: the physical ranges need not be allocated, only inside memory.
            long p0 = (k.memory().base() + block - 1) & -block;
            requireSetup(
                    k.memory().contains(p0, 2 * block),
                    "memory too small for two blocks of " + Hex.size(block) + ": override createMemory()");
            long x = iovaBase(d, block) + block;
            long y = x + 2 * block;
            String r = "map uses the largest page size that fits at each step";
            d.map(x - g, p0 + block - g, block + g, Prot.READ_WRITE);
            assertThat(d)
                    .as(rule(r) + ": the granule before the block")
                    .translates(x - g)
                    .to(p0 + block - g)
                    .withLeafSize(g);
            assertThat(d)
                    .as(rule(r) + ": the aligned block")
                    .translates(x)
                    .to(p0 + block)
                    .withLeafSize(block);
            d.map(y, p0, block + g, Prot.READ_WRITE);
            assertThat(d)
                    .as(rule(r) + ": the aligned block")
                    .translates(y + block - 1)
                    .to(p0 + block - 1)
                    .withLeafSize(block);
            assertThat(d)
                    .as(rule(r) + ": the granule after the block")
                    .translates(y + block)
                    .to(p0 + block)
                    .withLeafSize(g);
            assertThat(d.unmap(x - g, 3 * block + 2 * g))
                    .as(rule("unmap returns the bytes unmapped"))
                    .isEqualTo(2 * block + 2 * g);
        });
    }

    /**
     * Checks {@link KitRule#MAP_11} where the backend declares no block mappings; generates no test
     * otherwise.
     *
     * @return the check, if the rule applies
     */
    @TestFactory
    @Checks(KitRule.MAP_11)
    default Stream<DynamicTest> straddlingRangeGetsGranulePagesWithoutBlocks() {
        KitFixture k = kit();
        return k.onlyIf(!k.capabilities().blockMappings(), () -> {
            IommuDomain d = k.attachedDomain(0);
            long g = k.granule();
            long block = k.blockSize(d);
            // Translation only, no DMA: the physical ranges need not be allocated, only inside memory.
            long p0 = (k.memory().base() + block - 1) & -block;
            requireSetup(
                    k.memory().contains(p0, 2 * block),
                    "memory too small for two blocks of " + Hex.size(block) + ": override createMemory()");
            long x = iovaBase(d, block) + block;
            long y = x + 2 * block;
            String r = "without block mappings, map uses granule pages throughout a range straddling a would-be block";
            d.map(x - g, p0 + block - g, block + g, Prot.READ_WRITE);
            d.map(y, p0, block + g, Prot.READ_WRITE);
            k.granulePagesOnly(
                    r,
                    "map(" + Hex.of(x - g) + ", " + Hex.of(p0 + block - g) + ", " + Hex.size(block + g) + ")",
                    x - g,
                    p0 + block - g,
                    block + g);
            k.granulePagesOnly(
                    r, "map(" + Hex.of(y) + ", " + Hex.of(p0) + ", " + Hex.size(block + g) + ")", y, p0, block + g);
            assertThat(d.unmap(x - g, 3 * block + 2 * g))
                    .as(rule("unmap returns the bytes unmapped"))
                    .isEqualTo(2 * block + 2 * g);
        });
    }

    /**
     * Checks {@link KitRule#MAP_12}.
     */
    @Test
    @Checks(KitRule.MAP_12)
    default void granuleAlignedRangeGetsGranulePages() {
        KitFixture k = kit();
        IommuDomain d = k.attachedDomain(0);
        long g = k.granule();
        long block = k.capabilities().blockMappings() ? k.capabilities().smallestBlock() : 4 * g;
        long pa = k.pages(block);
        long iova = iovaBase(d, block);
        d.map(iova + g, pa + g, block - g, Prot.READ_WRITE);
        assertThat(d)
                .as(rule("a range aligned only to the granule is mapped with granule pages"))
                .translates(iova + g)
                .to(pa + g)
                .withLeafSize(g);
        assertThat(d)
                .as(rule("a range aligned only to the granule is mapped with granule pages"))
                .translates(iova + block - g)
                .to(pa + block - g)
                .withLeafSize(g);
        assertThat(d).doesNotTranslate(iova);
    }

    /**
     * Checks {@link KitRule#MAP_13}.
     */
    @Test
    @Checks(KitRule.MAP_13)
    default void walkReportsGrantedRights() {
        KitFixture k = kit();
        IommuDomain d = k.attachedDomain(0);
        long g = k.granule();
        long pa = k.pages(2 * g);
        long iova = iovaBase(d, g);
        d.map(iova, pa, g, Prot.READ_WRITE);
        d.map(iova + g, pa + g, g, Prot.READ);
        assertThat(d)
                .as(rule("a READ_WRITE leaf allows reads and writes"))
                .translates(iova)
                .allowing(Access.READ)
                .allowing(Access.WRITE);
        assertThat(d)
                .as(rule("a READ leaf allows reads and forbids writes"))
                .translates(iova + g)
                .allowing(Access.READ)
                .forbidding(Access.WRITE);
    }

    /**
     * Checks {@link KitRule#MAP_14}.
     */
    @Test
    @Checks(KitRule.MAP_14)
    default void randomMapsAgreeWithModel() {
        KitFixture k = kit();
        IommuDomain d = k.attachedDomain(0);
        long g = k.granule();
        long block = k.capabilities().blockMappings() ? k.capabilities().smallestBlockAtLeast(16 * g) : 0;
        long unit = block != 0 && k.memory().size() >= 2 * block ? block : 16 * g;
        long window = Math.min(2 * unit, Long.highestOneBit((d.apertureEnd() - iovaBase(d, unit)) / 2));
        if (window < 2 * unit) { // the aperture cannot hold two blocks: pages only
            unit = 16 * g;
            window = Math.min(2 * unit, Long.highestOneBit((d.apertureEnd() - iovaBase(d, unit)) / 2));
        }
        requireSetup(
                window >= 16 * g,
                "aperture too small for the random map/unmap window of 16 granules: declare a" + " larger aperture");
        long base = iovaBase(d, unit);
        long paBase = (k.memory().base() + unit - 1) & -unit;
        long paSpan = Math.min(k.memory().end() - paBase, 2 * unit);
        long seed = Long.getLong("dmashare.test.seed", System.nanoTime());
        int ops = 300 * Integer.getInteger("dmashare.test.scale", 1);
        System.out.println(k.rule().id() + " random run on " + k.iommu() + ": seed " + seed
                + " (rerun with -Ddmashare.test.seed=" + seed + ")");
        Random rnd = new Random(seed);
        TreeMap<Long, Long> model = new TreeMap<>(); // granule IOVA -> granule PA
        String r = "map and unmap behave as a reference model of their rules (seed " + seed + ")";
        List<PageAllocator.Block> emptyDomain = k.memory().allocator().allocatedBlocks();
        for (int op = 0; op < ops; op++) {
            boolean big = unit != 16 * g && rnd.nextInt(4) == 0;
            long size = big ? unit : g * (1 + rnd.nextInt(8));
            long iova = big
                    ? base + unit * rnd.nextInt((int) (window / unit))
                    : base + g * rnd.nextInt((int) ((window - size) / g) + 1);
            long pa = big
                    ? paBase + unit * rnd.nextInt((int) Math.max(1, paSpan / unit))
                    : paBase + g * rnd.nextInt((int) ((paSpan - size) / g) + 1);
            String call;
            if (rnd.nextBoolean()) {
                call = "op " + op + ": map(" + Hex.of(iova) + ", " + Hex.of(pa) + ", " + Hex.of(size) + ")";
                boolean clash = !model.subMap(iova, iova + size).isEmpty();
                try {
                    d.map(iova, pa, size, Prot.READ_WRITE);
                    if (clash) {
                        fail(rule(r) + " broken: " + call + " succeeded over an existing mapping");
                    }
                    for (long o = 0; o < size; o += g) {
                        model.put(iova + o, pa + o);
                    }
                } catch (MappingConflictException e) {
                    if (!clash) {
                        fail(rule(r) + " broken: " + call + " was refused although the range is free: "
                                + e.getMessage());
                    }
                }
            } else {
                call = "op " + op + ": unmap(" + Hex.of(iova) + ", " + Hex.of(size) + ")";
                // Under WHOLE_ENTRY_FROM_START a leaf starting in the range goes whole, past its end.
                long reach = iova + size;
                if (k.capabilities().unmapPolicy() == UnmapPolicy.WHOLE_ENTRY_FROM_START) {
                    Optional<Translation> lastLeaf = k.iommu().walk(0, iova + size - g);
                    if (lastLeaf.isPresent()) {
                        long leafStart = (iova + size - g) & -lastLeaf.get().pageSize();
                        reach = Math.max(reach, leafStart + lastLeaf.get().pageSize());
                    }
                }
                long mapped = model.subMap(iova, reach).size() * g;
                try {
                    long n = d.unmap(iova, size);
                    assertThat(n)
                            .as(rule(r) + " broken: " + call + " returned " + Hex.of(n) + " but " + Hex.of(mapped)
                                    + " bytes of the range (and of leaves starting in it, as the declared unmap policy "
                                    + k.capabilities().unmapPolicy() + " removes them whole) were mapped")
                            .isEqualTo(mapped);
                    model.subMap(iova, reach).clear();
                } catch (MappingConflictException e) {
                    Optional<Translation> first = k.iommu().walk(0, iova);
                    Optional<Translation> last = k.iommu().walk(0, iova + size - 1);
                    boolean cuts =
                            first.filter(t -> (iova & (t.pageSize() - 1)) != 0).isPresent()
                                    || k.capabilities().unmapPolicy() == UnmapPolicy.REFUSE_CUT
                                            && last.filter(t -> ((iova + size) & (t.pageSize() - 1)) != 0)
                                                    .isPresent();
                    if (!cuts) {
                        fail(rule(r) + " broken: " + call + " was refused although no leaf sticks out of the range: "
                                + e.getMessage());
                    }
                }
            }
            // The op's own range (and a granule either side) after every op; the whole window every
            // 20 ops and after the last, so that a stray write anywhere is caught within 20 ops.
            boolean full = op % 20 == 19 || op == ops - 1;
            long from = full ? base : Math.max(base, iova - g);
            long to = full ? base + window : Math.min(base + window, iova + size + g);
            String when = full ? "after " + call + " (whole window, checked every 20 ops)" : "after " + call;
            agreesWithModel(k, r, when, model, from, to);
        }
        d.unmap(base, window);
        TableLifetimeRules.assertOnlyTablesDiffer(
                k.memory(), emptyDomain, rule(r) + " broken: after unmapping everything");
    }

    /** Walks [from, to) and fails at the first granule whose translation differs from the model. */
    private static void agreesWithModel(
            KitFixture k, String r, String when, NavigableMap<Long, Long> model, long from, long to) {
        long g = k.granule();
        long at = from;
        while (at < to) {
            Optional<Translation> t = k.iommu().walk(0, at);
            Long want = model.get(at);
            if (want == null) {
                if (t.isPresent()) {
                    fail(rule(r) + " broken " + when + ": IOVA " + Hex.of(at)
                            + " should be unmapped but the hardware walk finds " + t.get());
                }
                at += g;
                continue;
            }
            if (t.isEmpty() || t.get().pa() != want) {
                fail(rule(r) + " broken " + when + ": IOVA " + Hex.of(at) + " should translate to " + Hex.of(want)
                        + " but the hardware walk finds "
                        + t.map(Translation::toString).orElse("nothing"));
            }
            long leafEnd = Math.min((at & -t.get().pageSize()) + t.get().pageSize(), to);
            for (long o = at + g; o < leafEnd; o += g) {
                Long w = model.get(o);
                if (w == null || w != t.get().pa() + (o - at)) {
                    fail(rule(r) + " broken " + when + ": the leaf " + t.get() + " maps IOVA " + Hex.of(o)
                            + " which the model has " + (w == null ? "unmapped" : "at " + Hex.of(w)));
                }
            }
            at = leafEnd;
        }
    }
}
