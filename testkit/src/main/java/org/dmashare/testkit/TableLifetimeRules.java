package org.dmashare.testkit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.dmashare.testkit.KitFixture.rule;

import java.util.List;
import org.dmashare.Hex;
import org.dmashare.iommu.IommuDomain;
import org.dmashare.iommu.Prot;
import org.dmashare.iommu.support.PagingDomain;
import org.dmashare.memory.PageAllocator;
import org.dmashare.memory.PageUse;
import org.dmashare.memory.PhysicalMemory;
import org.dmashare.pgtable.IoPageTable;
import org.dmashare.pgtable.PteFormat;
import org.dmashare.pgtable.TableLifetime;

/**
 * The conformance kit's rules about when table pages are freed, which depend on the
 * {@link Capabilities#tableLifetime() declared table lifetime}: every lifetime keeps a table that
 * an unmap only empties (and a map there again allocates nothing); an unmap covering a table's
 * whole range frees it under {@link TableLifetime#WHOLE_RANGE}, under
 * {@link TableLifetime#WHOLE_BLOCK} when that range is a page size, and never under
 * {@link TableLifetime#UNTIL_FREED}; a block mapped over a kept empty table replaces it. Called
 * from {@link TablePageRules} (rule {@code TABLE-3}); state-comparing rules elsewhere in the kit use
 * {@link #assertOnlyTablesDiffer} so that tables the lifetime keeps are not taken for a leak.
 */
final class TableLifetimeRules {
    private TableLifetimeRules() {}

    /**
     * The allocator's blocks other than table pages.
     *
     * @param blocks a list from {@link PageAllocator#allocatedBlocks()}
     * @return the blocks whose use is not {@link PageUse#PAGE_TABLE}, in order
     */
    static List<PageAllocator.Block> withoutTables(List<PageAllocator.Block> blocks) {
        return blocks.stream().filter(b -> b.use() != PageUse.PAGE_TABLE).toList();
    }

    /**
     * Asserts that the page allocator holds exactly the pages it held in {@code before}, except
     * for table pages: what a rolled-back or fully unmapped domain may still hold under its
     * declared table lifetime (Linux's iommu_map unwinds a failed map with iommu_unmap, which
     * keeps tables as the format does).
     *
     * @param memory the kit's memory
     * @param before {@link PageAllocator#allocatedBlocks()} taken before
     * @param description the rule and the call, for the failure message
     */
    static void assertOnlyTablesDiffer(PhysicalMemory memory, List<PageAllocator.Block> before, String description) {
        assertThat(withoutTables(memory.allocator().allocatedBlocks()))
                .as(description + ": pages other than table pages (which the declared table lifetime may keep) differ")
                .isEqualTo(withoutTables(before));
    }

    /**
     * Checks the declared table lifetime on {@code d}, a fresh paging domain attached to a
     * stream: the declaration agrees with the format's; unmapping two pages of a last-level table
     * keeps it and mapping there again allocates nothing; unmapping the table's whole range frees
     * it exactly as the lifetime says; with block mappings of that range's size, a block mapped
     * over a kept empty table replaces it and frees it.
     *
     * @param memory the kit's memory
     * @param d a paging domain with nothing mapped
     * @param caps the declaration
     */
    static void check(PhysicalMemory memory, IommuDomain d, Capabilities caps) {
        IoPageTable table = ((PagingDomain) d).table();
        PteFormat f = table.format();
        assertThat(caps.tableLifetime())
                .as(rule("the declared table lifetime is the format's") + ": " + f)
                .isEqualTo(f.tableLifetime());
        long g = caps.granule();
        long paBytes = Math.max(g, memory.pageSize());
        long pa = memory.allocator().allocate(paBytes, PageUse.BUFFER);
        try {
            int leafLevel = f.levels() - 1;
            if (leafLevel - 1 < table.topLevel()) {
                // One level: the top is the only table, and it lives until the domain is closed.
                long x = Math.max(d.apertureStart(), g);
                d.map(x, pa, g, Prot.READ_WRITE);
                d.unmap(x, g);
                assertThat(table.tablePages())
                        .as(rule("an unmap never frees the top table"))
                        .containsExactly(table.rootPa());
                return;
            }
            long span = 1L << f.shift(leafLevel - 1);
            long x = (Math.max(d.apertureStart(), 2 * span) + 2 * span - 1) & -(2 * span);
            if (x + 2 * span > d.apertureEnd() || x + 2 * span < x) {
                throw new AssertionError("kit setup: the table-lifetime rules need two last-level tables' ranges ("
                        + Hex.size(2 * span) + ", aligned) inside the aperture "
                        + Hex.range(d.apertureStart(), d.apertureEnd() - d.apertureStart())
                        + ": declare a larger aperture");
            }
            d.map(x + span, pa, g, Prot.READ_WRITE); // the neighbour, so that the tables above exist
            List<Long> withoutTable = table.tablePages();
            d.map(x, pa, g, Prot.READ_WRITE);
            d.map(x + g, pa, g, Prot.READ_WRITE);
            List<Long> withTable = table.tablePages();
            assertThat(withTable)
                    .as(rule("mapping into an empty " + Hex.size(span) + " range allocates one" + " last-level table"))
                    .hasSize(withoutTable.size() + 1)
                    .containsAll(withoutTable);

            assertThat(d.unmap(x, 2 * g)).isEqualTo(2 * g);
            assertThat(table.tablePages())
                    .as(rule("an unmap that empties a table without covering its whole range" + " keeps it ("
                            + caps.tableLifetime() + ")"))
                    .isEqualTo(withTable);
            List<PageAllocator.Block> blocks = memory.allocator().allocatedBlocks();
            d.map(x, pa, g, Prot.READ_WRITE);
            assertThat(memory.allocator().allocatedBlocks())
                    .as(rule("mapping into a kept table allocates no page"))
                    .isEqualTo(blocks);

            assertThat(d.unmap(x, span)).isEqualTo(g);
            boolean frees = switch (caps.tableLifetime()) {
                case UNTIL_FREED -> false;
                case WHOLE_BLOCK -> (caps.pageSizes() & span) != 0;
                case WHOLE_RANGE -> true;
            };
            assertThat(table.tablePages())
                    .as(rule("an unmap of a table's whole " + Hex.size(span) + " range "
                            + (frees ? "frees" : "keeps") + " it under " + caps.tableLifetime() + " with page sizes "
                            + Hex.of(caps.pageSizes())))
                    .isEqualTo(frees ? withoutTable : withTable);

            if (caps.blockMappings()
                    && (caps.pageSizes() & span) != 0
                    && memory.allocator().largestFreeBlock() >= span) {
                d.map(x, pa, g, Prot.READ_WRITE);
                d.unmap(x, g);
                assertThat(table.tablePages()).isEqualTo(withTable);
                long block = memory.allocator().allocate(span, PageUse.BUFFER);
                try {
                    d.map(x, block, span, Prot.READ_WRITE);
                    assertThat(table.tablePages())
                            .as(rule("a block mapped over a kept empty table replaces it and" + " frees it"))
                            .isEqualTo(withoutTable);
                    assertThat(table.iovaToPhys(x + span - g)).isEqualTo(block + span - g);
                    assertThat(d.unmap(x, span)).isEqualTo(span);
                } finally {
                    memory.allocator().free(block, span);
                }
            }
            d.unmap(x + span, g);
        } finally {
            memory.allocator().free(pa, paBytes);
        }
    }
}
