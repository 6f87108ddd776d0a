package org.dmashare.pgtable;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import org.dmashare.MappingConflictException;
import org.dmashare.PhysicalMemoryExhaustedException;
import org.dmashare.fixture.ForwardingFormat;
import org.dmashare.fixture.TableState;
import org.dmashare.fixture.TwoLevelFormat;
import org.dmashare.iommu.Prot;
import org.dmashare.memory.FailureInjector;
import org.dmashare.memory.PageAllocator;
import org.dmashare.memory.PageUse;
import org.dmashare.memory.PhysicalMemory;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The engine frees tables when the format's {@link TableLifetime} says so and only then, on the
 * test-only {@link TwoLevelFormat} (4 KiB pages in last-level tables, 2 MiB blocks at the root)
 * and on a variant of it without blocks ({@link PagesOnly}), where "whole block" and "whole range"
 * differ. Whatever the lifetime, close frees every table and a failed map leaves memory as it was.
 */
class TableLifetimeTest {
    private static final long BASE = 0x8_0000_0000L;
    private static final long PAGE = 0x1000;
    private static final long BLOCK = 0x20_0000;

    private final PhysicalMemory memory = PhysicalMemory.create(BASE, 64L << 20, 4096);

    /** {@link TwoLevelFormat} without its root blocks: only 4 KiB pages, so no level maps 2 MiB. */
    record PagesOnly(TwoLevelFormat base) implements ForwardingFormat {
        @Override
        public long pageSizes() {
            return 1L << base.granuleShift();
        }
    }

    private long tableBytes() {
        return memory.allocator().usage().tableBytes();
    }

    private long buffer(long size) {
        return memory.allocator().allocate(size, PageUse.BUFFER);
    }

    private static IoPageTable twoLevel(PhysicalMemory memory, TableLifetime lifetime) {
        return new IoPageTable(memory, new TwoLevelFormat(12, lifetime));
    }

    @ParameterizedTest
    @EnumSource(TableLifetime.class)
    void closeFreesEveryTableWhateverTheLifetime(TableLifetime lifetime) {
        List<PageAllocator.Block> empty = memory.allocator().allocatedBlocks();
        long pa = buffer(8 * PAGE);
        IoPageTable table = twoLevel(memory, lifetime);
        table.map(BLOCK - 4 * PAGE, pa, 8 * PAGE, Prot.READ_WRITE);
        table.map(3 * BLOCK, pa, PAGE, Prot.READ);
        table.unmap(BLOCK - 4 * PAGE, 4 * PAGE);
        assertThat(tableBytes())
                .as("root and three leaf tables, one emptied (kept: no unmap covered a block)")
                .isEqualTo(4 * PAGE);
        table.close();
        assertThat(tableBytes()).isZero();
        assertThat(table.tablePages()).isEmpty();
        memory.allocator().free(pa, 8 * PAGE);
        assertThat(memory.allocator().allocatedBlocks()).isEqualTo(empty);
    }

    @Test
    void untilFreedKeepsEmptiedTablesAndAMapIntoThemAllocatesNothing() {
        IoPageTable table = twoLevel(memory, TableLifetime.UNTIL_FREED);
        long pa = buffer(8 * PAGE);
        table.map(BLOCK - 4 * PAGE, pa, 8 * PAGE, Prot.READ_WRITE);
        List<Long> pages = table.tablePages();
        assertThat(pages)
                .as("the root and one leaf table on each side of the 2 MiB boundary")
                .hasSize(3);

        assertThat(table.unmap(0, 4 * BLOCK))
                .as("an unmap covering both blocks whole")
                .isEqualTo(8 * PAGE);
        assertThat(table.tablePages())
                .as("tables live until the page table is freed")
                .isEqualTo(pages);
        assertThat(tableBytes()).isEqualTo(3 * PAGE);
        assertThat(PageTableWalker.leaves(memory, table.format(), table.rootPa()))
                .isEmpty();
        for (long leafTable : pages.subList(1, 3)) {
            for (int i = 0; i < 512; i++) {
                assertThat(memory.readLong(leafTable + 8L * i))
                        .as("entry %d of %s", i, leafTable)
                        .isZero();
            }
        }

        table.map(BLOCK - 4 * PAGE, pa, 8 * PAGE, Prot.READ_WRITE);
        assertThat(table.tablePages())
                .as("the same range mapped again reuses the kept tables")
                .isEqualTo(pages);
        assertThat(tableBytes()).isEqualTo(3 * PAGE);
        assertThat(table.iovaToPhys(BLOCK + PAGE)).isEqualTo(pa + 5 * PAGE);
        table.close();
    }

    @Test
    void wholeBlockFreesATableOnlyWhenOneUnmapCoversItsWholeBlock() {
        IoPageTable table = twoLevel(memory, TableLifetime.WHOLE_BLOCK);
        long pa = buffer(8 * PAGE);
        table.map(BLOCK - 4 * PAGE, pa, 8 * PAGE, Prot.READ_WRITE);
        List<Long> pages = table.tablePages();

        assertThat(table.unmap(BLOCK - 4 * PAGE, 8 * PAGE)).isEqualTo(8 * PAGE);
        assertThat(table.tablePages())
                .as("both tables emptied, neither block covered whole: kept")
                .isEqualTo(pages);

        table.map(BLOCK, pa, 4 * PAGE, Prot.READ_WRITE);
        assertThat(table.unmap(BLOCK, BLOCK)).as("the second block, whole").isEqualTo(4 * PAGE);
        assertThat(table.tablePages())
                .as("its table is freed; the first block's stays")
                .containsExactly(pages.get(0), pages.get(1));
        assertThat(tableBytes()).isEqualTo(2 * PAGE);

        assertThat(table.unmap(0, BLOCK))
                .as("the first block, whole and already empty")
                .isZero();
        assertThat(table.tablePages()).containsExactly(table.rootPa());
        assertThat(tableBytes()).isEqualTo(PAGE);
        table.close();
    }

    @Test
    void wholeBlockNeverFreesATableWhoseEntryCannotHoldABlock() {
        IoPageTable table = new IoPageTable(memory, new PagesOnly(new TwoLevelFormat(12, TableLifetime.WHOLE_BLOCK)));
        long pa = buffer(4 * PAGE);
        table.map(BLOCK, pa, 4 * PAGE, Prot.READ_WRITE);
        assertThat(table.unmap(0, 4 * BLOCK)).isEqualTo(4 * PAGE);
        assertThat(table.tablePages())
                .as("no unmap is ever handed a 2 MiB block here, as in io-pgtable-arm's"
                        + " tables below a level without blocks")
                .hasSize(2);
        table.close();
        assertThat(tableBytes()).isZero();
    }

    @Test
    void wholeRangeFreesATableWhoseWholeRangeOneUnmapCovers() {
        IoPageTable table = new IoPageTable(memory, new PagesOnly(new TwoLevelFormat(12, TableLifetime.WHOLE_RANGE)));
        long pa = buffer(4 * PAGE);
        table.map(BLOCK, pa, 4 * PAGE, Prot.READ_WRITE);
        table.map(2 * BLOCK, pa, 4 * PAGE, Prot.READ);
        List<Long> pages = table.tablePages();
        assertThat(pages).hasSize(3);
        long second = table.format().address(memory.readLong(table.rootPa() + 8L * 2), 0);

        assertThat(table.unmap(BLOCK, 4 * PAGE)).isEqualTo(4 * PAGE);
        assertThat(table.tablePages()).as("emptied but not covered whole: kept").isEqualTo(pages);

        assertThat(table.unmap(BLOCK, BLOCK + 2 * PAGE))
                .as("the first table's range whole, half the second's")
                .isEqualTo(2 * PAGE);
        assertThat(table.tablePages())
                .as("the covered table is freed, the other kept")
                .containsExactly(table.rootPa(), second);
        assertThat(table.iovaToPhys(2 * BLOCK + 2 * PAGE)).isEqualTo(pa + 2 * PAGE);
        assertThat(table.unmap(2 * BLOCK, BLOCK)).isEqualTo(2 * PAGE);
        assertThat(table.tablePages()).containsExactly(table.rootPa());
        table.close();
    }

    @ParameterizedTest
    @EnumSource(TableLifetime.class)
    void aBlockMappedOverAKeptEmptyTableReplacesItAndFreesIt(TableLifetime lifetime) {
        IoPageTable table = twoLevel(memory, lifetime);
        long pages = buffer(4 * PAGE);
        long block = buffer(BLOCK);
        table.map(BLOCK, pages, 4 * PAGE, Prot.READ_WRITE);
        table.unmap(BLOCK, 4 * PAGE);
        assertThat(tableBytes()).as("kept: the unmap did not cover the block").isEqualTo(2 * PAGE);

        table.map(BLOCK, block, BLOCK, Prot.READ_WRITE);
        PageTableWalker.Result r = PageTableWalker.walk(memory, table.format(), table.rootPa(), BLOCK + 0x1234);
        assertThat(r.level()).as("a root block").isZero();
        assertThat(r.translation().pa()).isEqualTo(block + 0x1234);
        assertThat(table.tablePages()).containsExactly(table.rootPa());
        assertThat(tableBytes()).isEqualTo(PAGE);
        table.close();
    }

    @ParameterizedTest
    @EnumSource(TableLifetime.class)
    void aFailedMapFreesOnlyTheTablesItCreatedAndPutsBackAKeptTableItReplaced(TableLifetime lifetime) {
        IoPageTable table = twoLevel(memory, lifetime);
        long pages = buffer(4 * PAGE);
        long blocks = buffer(2 * BLOCK); // a buddy block, 4 MiB aligned
        table.map(BLOCK, pages, 4 * PAGE, Prot.READ_WRITE);
        table.unmap(BLOCK, 4 * PAGE);
        TableState before = TableState.of(memory, table);

        // A block over the kept table, then four pages in a table that cannot be allocated.
        memory.failures().failNth(FailureInjector.Point.TABLE_PAGE_ALLOCATION, 1);
        try {
            assertThatThrownBy(() -> table.map(BLOCK, blocks, BLOCK + 4 * PAGE, Prot.READ_WRITE))
                    .isInstanceOf(PhysicalMemoryExhaustedException.class);
        } finally {
            memory.failures().clear();
        }
        assertThat(TableState.of(memory, table))
                .as("the kept table is back, pointed at, and nothing leaked")
                .isEqualTo(before);

        table.map(BLOCK, blocks, BLOCK + 4 * PAGE, Prot.READ_WRITE);
        assertThat(tableBytes())
                .as("root and the new table; the replaced one freed")
                .isEqualTo(2 * PAGE);
        assertThat(table.iovaToPhys(2 * BLOCK + 3 * PAGE)).isEqualTo(blocks + BLOCK + 3 * PAGE);
        table.close();
        assertThat(tableBytes()).isZero();
    }

    /**
     * Random maps and unmaps, some failing at a table allocation, against a model of the leaves
     * and of the last-level tables each lifetime keeps: after every call the tables in use are
     * exactly the model's (read from the root's entries in memory), every probe translates as the
     * model says, a refused or failed call changes nothing, and close frees everything.
     */
    @ParameterizedTest
    @EnumSource(TableLifetime.class)
    void randomMapsAndUnmapsKeepExactlyTheTablesTheLifetimePredicts(TableLifetime lifetime) {
        for (boolean blocks : new boolean[] {true, false}) {
            long seed = Long.getLong("dmashare.test.seed", System.nanoTime());
            System.out.println("TableLifetimeTest random " + lifetime + (blocks ? "" : " pages only") + ": seed " + seed
                    + " (rerun with -Ddmashare.test.seed=" + seed + ")");
            randomRun(
                    lifetime,
                    blocks,
                    new Random(seed),
                    "seed " + seed + ", " + lifetime + (blocks ? "" : " pages only"));
        }
    }

    private void randomRun(TableLifetime lifetime, boolean blocks, Random rnd, String run) {
        TwoLevelFormat two = new TwoLevelFormat(12, lifetime);
        PteFormat format = blocks ? two : new PagesOnly(two);
        IoPageTable table = new IoPageTable(memory, format);
        int window = 8; // blocks
        long pa0 = buffer(window * BLOCK); // a buddy block: aligned to its size
        TreeMap<Long, Long> leaves = new TreeMap<>(); // first IOVA -> size
        Set<Long> tables = new TreeSet<>(); // blocks with a last-level table
        int ops = 400 * Integer.getInteger("dmashare.test.scale", 1);
        for (int op = 0; op < ops; op++) {
            long size = rnd.nextInt(4) == 0 ? BLOCK * (1 + rnd.nextInt(2)) : PAGE * (1 + rnd.nextInt(16));
            long iova = rnd.nextBoolean() ? BLOCK * rnd.nextInt(window - 1) : PAGE * rnd.nextInt(512 * (window - 2));
            String at = run + " op " + op;
            TableState before = TableState.of(memory, table);
            boolean overlap = !leaves.subMap(iova - 2 * BLOCK, iova + size).entrySet().stream()
                    .filter(e -> e.getKey() + e.getValue() > iova)
                    .toList()
                    .isEmpty();
            if (rnd.nextBoolean()) {
                boolean inject = rnd.nextInt(6) == 0;
                if (inject) {
                    memory.failures().failNth(FailureInjector.Point.TABLE_PAGE_ALLOCATION, 1);
                }
                try {
                    table.map(iova, pa0 + iova, size, Prot.READ_WRITE);
                    assertThat(overlap)
                            .as("%s: map(%x, %x) succeeded over a mapping", at, iova, size)
                            .isFalse();
                    for (long done = 0; done < size; ) {
                        long leaf = blocks && ((iova + done) & (BLOCK - 1)) == 0 && size - done >= BLOCK ? BLOCK : PAGE;
                        long idx = (iova + done) / BLOCK;
                        leaves.put(iova + done, leaf);
                        if (leaf == BLOCK) {
                            tables.remove(idx); // a block replaces a kept empty table
                        } else {
                            tables.add(idx);
                        }
                        done += leaf;
                    }
                } catch (MappingConflictException | PhysicalMemoryExhaustedException e) {
                    assertThat(overlap || inject)
                            .as("%s: map(%x, %x) refused: %s", at, iova, size, e)
                            .isTrue();
                    assertThat(TableState.of(memory, table))
                            .as("%s: a refused map changes nothing", at)
                            .isEqualTo(before);
                } finally {
                    memory.failures().clear();
                }
            } else {
                boolean cuts = leaves.subMap(iova - 2 * BLOCK, iova + size).entrySet().stream()
                        .anyMatch(e -> e.getKey() + e.getValue() > iova
                                && (e.getKey() < iova || e.getKey() + e.getValue() > iova + size));
                try {
                    long expected = leaves.subMap(iova, iova + size).values().stream()
                            .mapToLong(Long::longValue)
                            .sum();
                    assertThat(table.unmap(iova, size))
                            .as("%s: unmap(%x, %x)", at, iova, size)
                            .isEqualTo(expected);
                    assertThat(cuts)
                            .as("%s: unmap(%x, %x) cut a leaf", at, iova, size)
                            .isFalse();
                    leaves.subMap(iova, iova + size).clear();
                    boolean frees =
                            lifetime == TableLifetime.WHOLE_RANGE || lifetime == TableLifetime.WHOLE_BLOCK && blocks;
                    if (frees) {
                        tables.removeIf(idx -> idx * BLOCK >= iova && (idx + 1) * BLOCK <= iova + size);
                    }
                } catch (MappingConflictException e) {
                    assertThat(cuts)
                            .as("%s: unmap(%x, %x) refused: %s", at, iova, size, e)
                            .isTrue();
                    assertThat(TableState.of(memory, table))
                            .as("%s: a refused unmap changes nothing", at)
                            .isEqualTo(before);
                }
            }
            Set<Long> inMemory = new TreeSet<>();
            for (long idx = 0; idx < window; idx++) {
                if (format.kind(memory.readLong(table.rootPa() + 8 * idx), 0) == PteKind.TABLE) {
                    inMemory.add(idx);
                }
            }
            assertThat(inMemory).as("%s: blocks with a last-level table", at).isEqualTo(tables);
            assertThat(table.tablePages()).as(at).hasSize(1 + tables.size());
            long probe = PAGE * rnd.nextInt(512 * window);
            Map.Entry<Long, Long> e = leaves.floorEntry(probe);
            long expected = e != null && e.getKey() + e.getValue() > probe ? pa0 + probe : -1;
            assertThat(table.iovaToPhys(probe)).as("%s: probe %x", at, probe).isEqualTo(expected);
        }
        table.close();
        memory.allocator().free(pa0, window * BLOCK);
        assertThat(tableBytes()).as(run + ": close frees every table").isZero();
    }
}
