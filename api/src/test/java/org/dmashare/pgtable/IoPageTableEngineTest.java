package org.dmashare.pgtable;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.dmashare.MappingConflictException;
import org.dmashare.PhysicalMemoryExhaustedException;
import org.dmashare.fixture.TableState;
import org.dmashare.fixture.TwoLevelFormat;
import org.dmashare.iommu.IommuFault;
import org.dmashare.iommu.Prot;
import org.dmashare.memory.FailureInjector;
import org.dmashare.memory.PageUse;
import org.dmashare.memory.PhysicalMemory;
import org.junit.jupiter.api.Test;

/**
 * The page-table engine on a test-only two-level format ({@link TwoLevelFormat}, 4 KiB granule:
 * 2 MiB blocks at the root, 4 KiB pages below): what {@link IoPageTable} writes is what
 * {@link PageTableWalker} reads back from memory, conflicts and partial unmaps are refused without
 * a change, and a map that fails halfway is undone entry for entry. When tables are freed is
 * {@link TableLifetimeTest}'s.
 */
class IoPageTableEngineTest {
    private static final long BASE = 0x8_0000_0000L;
    private static final long PAGE = 0x1000;
    private static final long BLOCK = 0x20_0000;

    private final PhysicalMemory memory = PhysicalMemory.create(BASE, 64L << 20, 4096);
    private final TwoLevelFormat format = new TwoLevelFormat(12);
    private final IoPageTable table = new IoPageTable(memory, format);

    private long buffer(long size) {
        return memory.allocator().allocate(size, PageUse.BUFFER);
    }

    private PageTableWalker.Result walk(long iova) {
        return PageTableWalker.walk(memory, format, table.rootPa(), iova);
    }

    @Test
    void mappedPagesAreEntriesInMemoryThatTheWalkerTranslates() {
        long pa = buffer(4 * PAGE);
        long iova = BLOCK + 3 * PAGE;
        table.map(iova, pa, 3 * PAGE, Prot.READ);

        long rootEntry = memory.readLong(table.rootPa() + 8L * format.index(iova, 0));
        assertThat(format.kind(rootEntry, 0)).isEqualTo(PteKind.TABLE);
        long leafTable = format.address(rootEntry, 0);
        assertThat(table.tablePages()).containsExactly(table.rootPa(), leafTable);
        for (int i = 0; i < 3; i++) {
            assertThat(memory.readLong(leafTable + 8L * (3 + i)))
                    .as("entry %d of the leaf table", 3 + i)
                    .isEqualTo(format.encodeLeaf(pa + i * PAGE, Prot.READ, 1));
            PageTableWalker.Result r = walk(iova + i * PAGE + 0x123);
            assertThat(r.ok()).isTrue();
            assertThat(r.level()).isEqualTo(1);
            assertThat(r.translation().pa()).isEqualTo(pa + i * PAGE + 0x123);
            assertThat(r.translation().pageSize()).isEqualTo(PAGE);
            assertThat(r.translation().prot()).isEqualTo(Prot.READ);
            assertThat(table.iovaToPhys(iova + i * PAGE)).isEqualTo(pa + i * PAGE);
        }
        assertThat(walk(iova - PAGE).reason()).isEqualTo(IommuFault.Reason.TRANSLATION);
        assertThat(walk(iova + 3 * PAGE).reason()).isEqualTo(IommuFault.Reason.TRANSLATION);
        assertThat(walk(1L << format.inputBits()).reason()).isEqualTo(IommuFault.Reason.ADDRESS_SIZE);
    }

    @Test
    void anAlignedBlockIsOneRootLeafWithNoTablePage() {
        long pa = memory.allocator().allocate(BLOCK, PageUse.BUFFER);
        table.map(2 * BLOCK, pa, BLOCK, Prot.READ_WRITE);
        assertThat(table.tablePages()).containsExactly(table.rootPa());
        PageTableWalker.Result r = walk(2 * BLOCK + 0x1_2345);
        assertThat(r.level()).isZero();
        assertThat(r.translation().pageSize()).isEqualTo(BLOCK);
        assertThat(r.translation().pa()).isEqualTo(pa + 0x1_2345);
        assertThat(PageTableWalker.leaves(memory, format, table.rootPa())).hasSize(1);
    }

    @Test
    void mapOverAValidEntryIsRefusedAndChangesNothing() {
        long pa = buffer(4 * PAGE);
        table.map(4 * PAGE, pa, PAGE, Prot.READ_WRITE);
        TableState before = TableState.of(memory, table);
        assertThatThrownBy(() -> table.map(2 * PAGE, pa + PAGE, 3 * PAGE, Prot.READ_WRITE))
                .isInstanceOf(MappingConflictException.class)
                .hasMessageContaining("0x4000")
                .hasMessageContaining("already mapped");
        assertThat(TableState.of(memory, table)).isEqualTo(before);
        assertThat(walk(2 * PAGE).ok())
                .as("the free part before the clash stays unmapped")
                .isFalse();
    }

    @Test
    void unmapMustCoverWholeMappingsAndReturnsTheBytesItRemoved() {
        long block = memory.allocator().allocate(BLOCK, PageUse.BUFFER);
        long pages = buffer(2 * PAGE);
        table.map(BLOCK, block, BLOCK, Prot.READ_WRITE);
        table.map(2 * BLOCK, pages, 2 * PAGE, Prot.READ_WRITE);
        TableState before = TableState.of(memory, table);

        assertThatThrownBy(() -> table.unmap(BLOCK + PAGE, PAGE))
                .as("inside the block")
                .isInstanceOf(MappingConflictException.class)
                .hasMessageContaining("whole mappings");
        assertThatThrownBy(() -> table.unmap(BLOCK, PAGE))
                .as("the block's first page only")
                .isInstanceOf(MappingConflictException.class);
        assertThatThrownBy(() -> table.unmap(BLOCK + BLOCK / 2, BLOCK))
                .as("from inside the block across its end")
                .isInstanceOf(MappingConflictException.class);
        assertThat(TableState.of(memory, table)).isEqualTo(before);

        assertThat(table.unmap(2 * BLOCK + PAGE, PAGE)).as("one of two pages").isEqualTo(PAGE);
        assertThat(table.unmap(0, 4 * BLOCK))
                .as("everything left, holes included")
                .isEqualTo(BLOCK + PAGE);
        assertThat(table.unmap(0, 4 * BLOCK)).as("nothing left").isZero();
        assertThat(PageTableWalker.leaves(memory, format, table.rootPa())).isEmpty();
    }

    @Test
    void aMapThatFailsAtAnyTablePageOrMapEventLeavesTheTablesAsBefore() {
        long pa = buffer(4 * BLOCK); // a buddy block: aligned to its size
        // Three pages below a 2 MiB boundary, a block after it, two pages beyond: two new leaf tables.
        long iova = BLOCK - 3 * PAGE;
        long size = 3 * PAGE + BLOCK + 2 * PAGE;
        long paOfIova = pa + BLOCK - 3 * PAGE;
        table.map(4 * BLOCK, pa, PAGE, Prot.READ_WRITE); // something already there, in a table of its own
        int failedRuns = 0;
        for (FailureInjector.Point point :
                new FailureInjector.Point[] {FailureInjector.Point.TABLE_PAGE_ALLOCATION, FailureInjector.Point.MAP}) {
            for (int n = 1; ; n++) {
                TableState before = TableState.of(memory, table);
                memory.failures().failNth(point, n);
                try {
                    table.map(iova, paOfIova, size, Prot.READ_WRITE);
                } catch (PhysicalMemoryExhaustedException | MappingConflictException e) {
                    failedRuns++;
                    assertThat(TableState.of(memory, table))
                            .as("after %s failed at event %d", point, n)
                            .isEqualTo(before);
                    continue;
                } finally {
                    memory.failures().clear();
                }
                assertThat(walk(iova + 3 * PAGE).translation().pageSize()).isEqualTo(BLOCK);
                assertThat(table.tablePages())
                        .as("root, the resident page's table and the two new ones")
                        .hasSize(4);
                assertThat(table.unmap(iova, size)).isEqualTo(size);
                break;
            }
        }
        assertThat(failedRuns).as("two table pages and one map event can fail").isEqualTo(3);
    }
}
