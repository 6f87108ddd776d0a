package org.dmashare.generic;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;
import org.dmashare.InvalidArgumentException;
import org.dmashare.MappingConflictException;
import org.dmashare.ObjectClosedException;
import org.dmashare.PhysicalMemoryExhaustedException;
import org.dmashare.iommu.Iommu;
import org.dmashare.iommu.IommuConfig;
import org.dmashare.iommu.IommuDomain;
import org.dmashare.iommu.Prot;
import org.dmashare.iommu.Translation;
import org.dmashare.iommu.support.PagingDomain;
import org.dmashare.memory.FailureInjector.Point;
import org.dmashare.memory.PageAllocator;
import org.dmashare.memory.PhysicalMemory;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

/** The io-pgtable-style engine as the generic backend drives it: map, unmap, tables, rollback. */
class GenericPageTableTest {
    private static final long BASE = 0x8_0000_0000L;
    private static final long K4 = 0x1000;
    private static final long M2 = 1L << 21;
    private static final long G1 = 1L << 30;

    private final PhysicalMemory memory = PhysicalMemory.create(BASE, 1L << 33, 4096);

    private Iommu unit(String variant) {
        return new GenericBackend().create(IommuConfig.of(variant), memory);
    }

    /** A paging domain with stream 0 attached, so Iommu.walk sees it. */
    private IommuDomain domain(Iommu iommu) {
        IommuDomain d = iommu.createDomain();
        iommu.device(0).attach(d);
        return d;
    }

    /** Every table page's entries plus the page allocator's state. */
    private record TableState(
            Map<Long, ByteBuffer> tables, PageAllocator.Usage usage, List<PageAllocator.Block> blocks) {}

    private TableState state(IommuDomain d) {
        PagingDomain p = (PagingDomain) d;
        Map<Long, ByteBuffer> tables = new TreeMap<>();
        for (long t : p.table().tablePages()) {
            // ByteBuffer.equals compares contents: every entry of every table page.
            tables.put(t, ByteBuffer.wrap(memory.read(t, (int) p.table().tablePageBytes())));
        }
        return new TableState(
                tables, memory.allocator().usage(), memory.allocator().allocatedBlocks());
    }

    private void refusedWithoutChange(IommuDomain d, Class<? extends Throwable> type, Executable call) {
        TableState before = state(d);
        assertThatThrownBy(call::execute).isInstanceOf(type);
        assertThat(state(d)).isEqualTo(before);
    }

    private static long pageSize(Iommu iommu, long iova) {
        Optional<Translation> t = iommu.walk(0, iova);
        assertThat(t).as("walk of %x", iova).isPresent();
        return t.get().pageSize();
    }

    private static long walkPa(Iommu iommu, long iova) {
        return iommu.walk(0, iova).map(Translation::pa).orElse(-1L);
    }

    @Test
    void fourMibWithTwoMibAlignmentUsesTwoBlocks() {
        Iommu iommu = unit("lpae-4k");
        IommuDomain d = domain(iommu);
        long iova = 0x4020_0000L;
        long pa = BASE + 0x60_0000;
        d.map(iova, pa, 2 * M2, Prot.READ_WRITE);
        assertThat(pageSize(iommu, iova)).isEqualTo(M2);
        assertThat(pageSize(iommu, iova + M2 + 0x1234)).isEqualTo(M2);
        assertThat(walkPa(iommu, iova + M2 + 0x1234)).isEqualTo(pa + M2 + 0x1234);
        assertThat(walkPa(iommu, iova + 2 * M2)).isEqualTo(-1);
        assertThat(d.iovaToPhys(iova + 0x10)).isEqualTo(pa + 0x10);
        // Raw: root -> level 1 -> level 2 entries 1 and 2 are blocks (0b01).
        long l1 = memory.readLong(((PagingDomain) d).table().rootPa()) & 0xFFFF_FFFF_F000L;
        long l2 = memory.readLong(l1 + 8 * 1) & 0xFFFF_FFFF_F000L;
        assertThat(memory.readLong(l2 + 8 * 1)).isEqualTo(pa | 0xF41L);
        assertThat(memory.readLong(l2 + 8 * 2)).isEqualTo((pa + M2) | 0xF41L);
        assertThat(((PagingDomain) d).table().tablePages()).hasSize(3);
    }

    @Test
    void gibibyteAlignedMapUsesAOneGibBlock() {
        Iommu iommu = unit("lpae-4k");
        IommuDomain d = domain(iommu);
        d.map(G1, BASE + G1, G1, Prot.READ);
        assertThat(pageSize(iommu, G1 + 0x1234_5678)).isEqualTo(G1);
        assertThat(walkPa(iommu, G1 + 0x1234_5678)).isEqualTo(BASE + G1 + 0x1234_5678);
        assertThat(iommu.walk(0, G1).get().prot()).isEqualTo(Prot.READ);
        assertThat(((PagingDomain) d).table().tablePages())
                .as("root and one level-1 table")
                .hasSize(2);
    }

    @Test
    void unalignedEdgesUsePagesAndTheMiddleUsesBlocks() {
        Iommu iommu = unit("lpae-4k");
        IommuDomain d = domain(iommu);
        long iova = M2 - K4;
        long pa = BASE + M2 - K4;
        d.map(iova, pa, 2 * M2 + 2 * K4, Prot.READ_WRITE);
        assertThat(pageSize(iommu, iova)).isEqualTo(K4);
        assertThat(pageSize(iommu, M2)).isEqualTo(M2);
        assertThat(pageSize(iommu, 2 * M2)).isEqualTo(M2);
        assertThat(pageSize(iommu, 3 * M2)).isEqualTo(K4);
        assertThat(walkPa(iommu, 3 * M2 + 5)).isEqualTo(BASE + 3 * M2 + 5);
        assertThat(walkPa(iommu, 3 * M2 + K4)).isEqualTo(-1);
    }

    @Test
    void physicalAddressNotBlockAlignedFallsBackToPages() {
        Iommu iommu = unit("lpae-4k");
        IommuDomain d = domain(iommu);
        d.map(M2, BASE + K4, M2, Prot.READ_WRITE);
        for (long off = 0; off < M2; off += 0x40000) {
            assertThat(pageSize(iommu, M2 + off)).isEqualTo(K4);
            assertThat(walkPa(iommu, M2 + off)).isEqualTo(BASE + K4 + off);
        }
    }

    @Test
    void sixteenKibGranuleUses32MibBlocks() {
        Iommu iommu = unit("lpae-16k");
        IommuDomain d = domain(iommu);
        long m32 = 1L << 25;
        assertThat(d.granule()).isEqualTo(0x4000);
        assertThat(d.pageSizes()).isEqualTo(0x4000 | m32);
        d.map(m32, BASE + m32, m32 + 0x4000, Prot.READ_WRITE);
        assertThat(pageSize(iommu, m32 + 0x123_4567)).isEqualTo(m32);
        assertThat(pageSize(iommu, 2 * m32)).isEqualTo(0x4000);
        assertThat(walkPa(iommu, 2 * m32 + 0x3FFF)).isEqualTo(BASE + 2 * m32 + 0x3FFF);
        assertThatThrownBy(() -> d.map(4 * m32 + 0x1000, BASE, 0x4000, Prot.READ))
                .isInstanceOf(InvalidArgumentException.class);
    }

    @Test
    void sixtyFourKibGranuleUses512MibBlocks() {
        Iommu iommu = unit("lpae-64k");
        IommuDomain d = domain(iommu);
        long m512 = 1L << 29;
        d.map(m512, BASE + m512, m512 + 0x10000, Prot.READ_WRITE);
        assertThat(pageSize(iommu, m512 + 0x1234_5678)).isEqualTo(m512);
        assertThat(pageSize(iommu, 2 * m512)).isEqualTo(0x10000);
        assertThat(walkPa(iommu, m512 + 0x1234_5678)).isEqualTo(BASE + m512 + 0x1234_5678);
        // 48-bit ias with 64K: 3 levels, the block is a level-1 entry (0b01).
        long root = ((PagingDomain) d).table().rootPa();
        long l1 = memory.readLong(root) & 0xFFFF_FFFF_0000L;
        assertThat(memory.readLong(l1 + 8)).isEqualTo((BASE + m512) | 0xF41L);
    }

    @Test
    void mapOverAnExistingEntryIsAConflictAndChangesNothing() {
        Iommu iommu = unit("lpae-4k");
        IommuDomain d = domain(iommu);
        d.map(0x10_0000, BASE, 4 * K4, Prot.READ_WRITE);
        d.map(4 * M2, BASE + 4 * M2, M2, Prot.READ_WRITE);
        refusedWithoutChange(d, MappingConflictException.class, () -> d.map(0x10_0000, BASE + M2, K4, Prot.READ));
        refusedWithoutChange(d, MappingConflictException.class, () -> d.map(0x10_3000, BASE + M2, 2 * K4, Prot.READ));
        refusedWithoutChange(
                d, MappingConflictException.class, () -> d.map(0x0F_0000, BASE + M2, 0x20_0000, Prot.READ));
        // Inside a block, and a larger range covering the block.
        refusedWithoutChange(d, MappingConflictException.class, () -> d.map(5 * M2 - K4, BASE, K4, Prot.READ));
        refusedWithoutChange(d, MappingConflictException.class, () -> d.map(3 * M2, BASE + 3 * M2, 3 * M2, Prot.READ));
        assertThatThrownBy(() -> d.map(0x10_2000, BASE, K4, Prot.READ)).hasMessageContaining("0x10_2000");
        assertThat(walkPa(iommu, 0x10_0000)).isEqualTo(BASE);
    }

    @Test
    void unmapThatCutsABlockOrStartsOrEndsInsideAMappingIsRefusedAndChangesNothing() {
        Iommu iommu = unit("lpae-4k");
        IommuDomain d = domain(iommu);
        d.map(4 * M2, BASE + 4 * M2, M2, Prot.READ_WRITE);
        d.map(0x10_0000, BASE, 4 * K4, Prot.READ_WRITE); // four 4K pages
        refusedWithoutChange(d, MappingConflictException.class, () -> d.unmap(4 * M2, K4));
        refusedWithoutChange(d, MappingConflictException.class, () -> d.unmap(4 * M2 + K4, M2 - K4));
        refusedWithoutChange(d, MappingConflictException.class, () -> d.unmap(4 * M2 - K4, 2 * K4));
        refusedWithoutChange(d, MappingConflictException.class, () -> d.unmap(5 * M2 - K4, 2 * K4));
        refusedWithoutChange(d, MappingConflictException.class, () -> d.unmap(0, 5 * M2 - K4));
        assertThatThrownBy(() -> d.unmap(4 * M2, K4)).hasMessageContaining("2 MiB");
        // Pages are whole mappings: unmapping one of them is fine.
        assertThat(d.unmap(0x10_1000, K4)).isEqualTo(K4);
        assertThat(walkPa(iommu, 0x10_1000)).isEqualTo(-1);
        assertThat(walkPa(iommu, 0x10_2000)).isEqualTo(BASE + 0x2000);
        assertThat(walkPa(iommu, 4 * M2)).isEqualTo(BASE + 4 * M2);
    }

    @Test
    void unmapReturnsTheBytesUnmappedAndSkipsHoles() {
        Iommu iommu = unit("lpae-4k");
        IommuDomain d = domain(iommu);
        d.map(M2, BASE + M2, M2, Prot.READ_WRITE);
        d.map(3 * M2, BASE, 2 * K4, Prot.READ_WRITE);
        d.map(3 * M2 + 8 * K4, BASE + 8 * K4, K4, Prot.READ_WRITE);
        assertThat(d.unmap(0, M2)).as("nothing mapped there").isZero();
        assertThat(d.unmap(0, 4 * M2)).isEqualTo(M2 + 3 * K4);
        assertThat(d.unmap(0, 4 * M2)).isZero();
        // The whole input range at once, across every root entry.
        d.map((511L << 39) + G1, BASE, G1, Prot.READ_WRITE);
        d.map(K4, BASE, K4, Prot.READ_WRITE);
        assertThat(d.unmap(0, 1L << 48)).isEqualTo(G1 + K4);
        assertThat(((PagingDomain) d).table().tablePages())
                .as("the root and the two level-1 tables: no unmap is"
                        + " handed a 512 GiB block, so io-pgtable-arm never frees them before the domain")
                .hasSize(3);
        for (long iova : new long[] {M2, 3 * M2, 3 * M2 + 8 * K4}) {
            assertThat(iommu.walk(0, iova)).isEmpty();
            assertThat(d.iovaToPhys(iova)).isEqualTo(IommuDomain.NO_TRANSLATION);
        }
    }

    @Test
    void unmapFreesATableOnlyWhenItCoversItsWholeBlockAndCloseFreesAllOfThem() {
        long tablesBefore = memory.allocator().usage().tableBytes();
        Iommu iommu = unit("lpae-4k");
        IommuDomain d = domain(iommu);
        PagingDomain p = (PagingDomain) d;
        assertThat(memory.allocator().usage().tableBytes()).as("the root").isEqualTo(tablesBefore + K4);
        long far = (5L << 39) | (7L << 30) | (9L << 21);
        d.map(far, BASE, K4, Prot.READ_WRITE);
        d.map(far + M2, BASE, K4, Prot.READ_WRITE);
        assertThat(p.table().tablePages()).hasSize(5);
        assertThat(memory.allocator().usage().tableBytes()).isEqualTo(tablesBefore + 5 * K4);
        List<Long> all = p.table().tablePages();
        assertThat(d.unmap(far, K4)).isEqualTo(K4);
        assertThat(d.unmap(far + M2, K4)).isEqualTo(K4);
        assertThat(p.table().tablePages())
                .as("both level-3 tables emptied, neither 2 MiB block unmapped whole: kept")
                .isEqualTo(all);
        d.map(far + K4, BASE, K4, Prot.READ_WRITE);
        assertThat(memory.allocator().usage().tableBytes())
                .as("a map into a kept table allocates none")
                .isEqualTo(tablesBefore + 5 * K4);
        assertThat(d.unmap(far, 2 * M2)).as("both 2 MiB blocks whole").isEqualTo(K4);
        assertThat(p.table().tablePages()).as("both level-3 tables freed").hasSize(3);
        assertThat(d.unmap(5L << 39, 1L << 39))
                .as("the root entry's whole 512 GiB")
                .isZero();
        assertThat(p.table().tablePages())
                .as("the level-2 table freed (its 1 GiB block covered); the level-1 table"
                        + " kept (512 GiB is no page size)")
                .hasSize(2);
        assertThat(memory.allocator().usage().tableBytes()).isEqualTo(tablesBefore + 2 * K4);
        long level1 = memory.readLong(p.table().rootPa() + 8 * 5);
        assertThat(level1).as("root entry still points at the level-1 table").isNotZero();
        assertThat(memory.readLong((level1 & 0xFFFF_FFFF_F000L) + 8 * 7))
                .as("level-1 entry cleared")
                .isZero();
        d.map(far, BASE, 2 * M2, Prot.READ_WRITE);
        d.map(0, BASE, K4, Prot.READ_WRITE);
        d.close();
        assertThat(d.isClosed()).isTrue();
        assertThat(memory.allocator().usage().tableBytes()).isEqualTo(tablesBefore);
        assertThat(memory.allocator().usage().bufferBytes()).isZero();
        assertThat(iommu.device(0).domain()).isEmpty();
        assertThat(p.table().tablePages()).as("a closed table lists no pages").isEmpty();
        assertThat(p.table().isClosed()).isTrue();
        assertThat(iommu.walk(0, far)).isEmpty();
        assertThatThrownBy(() -> d.map(0, BASE, K4, Prot.READ)).isInstanceOf(ObjectClosedException.class);
        assertThatThrownBy(() -> d.unmap(0, K4)).isInstanceOf(ObjectClosedException.class);
        assertThat(d.iovaToPhys(far)).isEqualTo(IommuDomain.NO_TRANSLATION);
        d.close();
        assertThat(memory.allocator().usage().tableBytes()).isEqualTo(tablesBefore);
    }

    @Test
    void mapRollsBackCompletelyWhereverATablePageAllocationFails() {
        Iommu iommu = unit("lpae-4k");
        IommuDomain d = domain(iommu);
        // Existing mappings share tables with the new range, so rollback must keep those tables.
        // 2 MiB regions 509 of the first GiB and 2 of the second already have level-3 tables.
        long before1 = G1 - 3 * M2;
        long after1 = G1 + 3 * M2 - K4;
        d.map(before1, BASE, K4, Prot.READ_WRITE);
        d.map(after1, BASE, K4, Prot.READ_WRITE);
        // [G1 - 4M - 12K, G1 + 6M - 12K) with only 4K alignment of PA: pages in regions 509..511
        // of the first GiB and 0..2 of the second; tables for 510, 511, 0 and 1 are new.
        long iova = G1 - 2 * M2 - 3 * K4;
        long pa = BASE + 0x10_1000;
        long size = 5 * M2;
        int k = 1;
        while (true) {
            TableState before = state(d);
            memory.failures().failNth(Point.TABLE_PAGE_ALLOCATION, k);
            try {
                d.map(iova, pa, size, Prot.READ_WRITE);
            } catch (PhysicalMemoryExhaustedException e) {
                assertThat(e).hasMessageContaining("injected");
                assertThat(state(d)).as("after failing table allocation %d", k).isEqualTo(before);
                for (long off = 0; off < size; off += K4 * 97) {
                    assertThat(d.iovaToPhys(iova + off))
                            .as("k %d off %x", k, off)
                            .isEqualTo(IommuDomain.NO_TRANSLATION);
                }
                assertThat(walkPa(iommu, before1)).isEqualTo(BASE);
                assertThat(walkPa(iommu, after1)).isEqualTo(BASE);
                memory.failures().clear();
                k++;
                continue;
            }
            boolean fired = !memory.failures().pending(Point.TABLE_PAGE_ALLOCATION);
            memory.failures().clear();
            assertThat(fired)
                    .as("map succeeded, so failure %d was never reached", k)
                    .isFalse();
            break;
        }
        assertThat(k - 1).as("table allocations the map needed").isEqualTo(4);
        for (long off = 0; off < size; off += K4 * 97) {
            assertThat(walkPa(iommu, iova + off)).isEqualTo(pa + off);
        }
    }

    @Test
    void domainCreationThatCannotAllocateItsRootChangesNothing() {
        Iommu iommu = unit("lpae-64k");
        PageAllocator.Usage before = memory.allocator().usage();
        memory.failures().failNth(Point.TABLE_PAGE_ALLOCATION, 1);
        assertThatThrownBy(iommu::createDomain).isInstanceOf(PhysicalMemoryExhaustedException.class);
        memory.failures().clear();
        assertThat(memory.allocator().usage()).isEqualTo(before);
        IommuDomain d = iommu.createDomain();
        assertThat(((PagingDomain) d).table().tablePageBytes()).isEqualTo(0x10000);
        assertThat(memory.allocator().usage().tableBytes()).isEqualTo(before.tableBytes() + 0x10000);
    }

    @Test
    void injectedMapFailureIsAConflictAndChangesNothing() {
        Iommu iommu = unit("lpae-4k");
        IommuDomain d = domain(iommu);
        memory.failures().failNth(Point.MAP, 1);
        refusedWithoutChange(d, MappingConflictException.class, () -> d.map(0, BASE, M2, Prot.READ_WRITE));
        memory.failures().clear();
        assertThat(walkPa(iommu, 0)).isEqualTo(-1);
    }

    @Test
    void mapRefusesMisalignedArgumentsOutsideTheApertureMemoryOrOutputSize() {
        PhysicalMemory low = PhysicalMemory.create(0xC000_0000L, 1L << 31, 4096); // crosses 4 GiB
        Iommu iommu = new GenericBackend()
                .create(
                        IommuConfig.builder("lpae-4k")
                                .inputBits(32)
                                .outputBits(32)
                                .build(),
                        low);
        assertThat(iommu.inputBits()).isEqualTo(32);
        assertThat(iommu.outputBits()).isEqualTo(32);
        IommuDomain d = iommu.createDomain();
        iommu.device(0).attach(d);
        assertThat(d.apertureStart()).isZero();
        assertThat(d.apertureEnd()).isEqualTo(1L << 32);
        d.map((1L << 32) - K4, 0xFFFF_F000L, K4, Prot.READ_WRITE);
        assertThat(iommu.walk(0, (1L << 32) - 1).get().pa()).isEqualTo(0xFFFF_FFFFL);
        TableState before = stateOf(low, d);
        List<Executable> bad = List.of(
                () -> d.map(1L << 32, 0xC000_0000L, K4, Prot.READ_WRITE), // above the aperture
                () -> d.map((1L << 32) - K4, 0xC000_0000L, 2 * K4, Prot.READ_WRITE), // crosses its end
                () -> d.map(-K4, 0xC000_0000L, K4, Prot.READ_WRITE),
                () -> d.map(0x1000, 0x1_0000_0000L, K4, Prot.READ_WRITE), // above 32-bit oas
                () -> d.map(0x1000, 0xFFFF_F000L, 2 * K4, Prot.READ_WRITE), // crosses the oas
                () -> d.map(0x1000, 0x1000, K4, Prot.READ_WRITE), // outside memory
                () -> d.map(0x1800, 0xC000_0000L, K4, Prot.READ_WRITE), // misaligned IOVA
                () -> d.map(0x1000, 0xC000_0800L, K4, Prot.READ_WRITE), // misaligned PA
                () -> d.map(0x1000, 0xC000_0000L, 0x800, Prot.READ_WRITE), // misaligned size
                () -> d.map(0x1000, 0xC000_0000L, 0, Prot.READ_WRITE),
                () -> d.map(0x1000, 0xC000_0000L, -K4, Prot.READ_WRITE),
                () -> d.map(0x1000, 0xC000_0000L, K4, Prot.WRITE), // write-only
                () -> d.map(0x1000, 0xC000_0000L, K4, new Prot(false, false, false, false)),
                () -> d.unmap(1L << 32, K4),
                () -> d.unmap(0x1800, K4),
                () -> d.unmap(0x1000, 0),
                () -> d.unmap(0x1000, 0x800));
        for (Executable call : bad) {
            assertThatThrownBy(call::execute).isInstanceOf(InvalidArgumentException.class);
            assertThat(stateOf(low, d)).isEqualTo(before);
        }
        assertThat(iommu.walk(0, 1L << 32)).as("beyond the input size").isEmpty();
    }

    private static TableState stateOf(PhysicalMemory m, IommuDomain d) {
        PagingDomain p = (PagingDomain) d;
        Map<Long, ByteBuffer> tables = new TreeMap<>();
        for (long t : p.table().tablePages()) {
            // ByteBuffer.equals compares contents: every entry of every table page.
            tables.put(t, ByteBuffer.wrap(m.read(t, (int) p.table().tablePageBytes())));
        }
        return new TableState(tables, m.allocator().usage(), m.allocator().allocatedBlocks());
    }

    @Test
    void domainIovaAllocatorCoversTheApertureButNeverHandsOutZero() {
        Iommu iommu = new GenericBackend()
                .create(IommuConfig.builder("lpae-16k").inputBits(36).build(), memory);
        IommuDomain d = iommu.createDomain();
        assertThat(d.iovaSpace().granule()).isEqualTo(0x4000);
        assertThat(d.iovaSpace().start()).isEqualTo(0x4000);
        assertThat(d.iovaSpace().end()).isEqualTo(1L << 36);
        assertThat(d.iovaSpace().findFree(0x4000, 0x4000, 0x8000)).isEqualTo(0x4000);
    }

    private record Leaf(long iova, long pa, long size) {}

    /**
     * Random maps and unmaps against a model of the leaves the io-pgtable greedy split must
     * produce: conflicts and cuts are refused exactly when the model says so and change nothing,
     * device-visible walks match the model, and the table pages in use are exactly the ones a model
     * of io-pgtable-arm's table lifetime predicts (a map creates the tables its leaves need and a
     * block replaces the tables below it; an unmap frees a table only when it covers the whole 2 MiB
     * or 1 GiB block the table maps, and never the level-1 tables, whose 512 GiB is no page size).
     * Injected table-allocation failures now and then must leave everything as it was.
     */
    @Test
    void randomMapsAndUnmapsMatchALeafModel() {
        long seed = Long.getLong("dmashare.test.seed", System.nanoTime());
        int scale = Integer.getInteger("dmashare.test.scale", 1);
        System.out.println("GenericPageTableTest.randomMapsAndUnmapsMatchALeafModel seed=" + seed + " scale=" + scale);
        Random rnd = new Random(seed);
        Iommu iommu = unit("lpae-4k");
        IommuDomain d = domain(iommu);
        long tablesBefore = memory.allocator().usage().tableBytes() - K4;
        TreeMap<Long, Leaf> leaves = new TreeMap<>();
        Set<Long> tables = new HashSet<>(); // below the root, keyed as tableKey
        long window = 4 * G1; // IOVAs in [0, 4 GiB) so ranges collide often
        int ops = 2000 * scale;
        for (int op = 0; op < ops; op++) {
            String at = "seed " + seed + " op " + op;
            int kind = rnd.nextInt(10);
            long[] req = randomRange(rnd, window);
            long iova = req[0];
            long size = req[1];
            if (kind < 5) {
                // Same offset in a GiB as the IOVA (blocks possible), or any page for small maps.
                long pa = BASE + (size > 4 * M2 || rnd.nextBoolean() ? (iova & (G1 - 1)) : K4 * rnd.nextInt(1 << 16));
                if (pa + size > memory.end()) {
                    continue;
                }
                boolean clash = !overlapping(leaves, iova, iova + size).isEmpty();
                boolean inject = !clash && rnd.nextInt(8) == 0;
                TableState before = clash || inject ? state(d) : null;
                if (clash) {
                    assertThatThrownBy(() -> d.map(iova, pa, size, Prot.READ_WRITE))
                            .as(at)
                            .isInstanceOf(MappingConflictException.class);
                    assertThat(state(d)).as(at).isEqualTo(before);
                } else if (inject) {
                    memory.failures().failNth(Point.TABLE_PAGE_ALLOCATION, 1 + rnd.nextInt(3));
                    try {
                        d.map(iova, pa, size, Prot.READ_WRITE);
                        mapTables(tables, addLeaves(leaves, iova, pa, size));
                    } catch (PhysicalMemoryExhaustedException e) {
                        assertThat(state(d)).as(at).isEqualTo(before);
                    } finally {
                        memory.failures().clear();
                    }
                } else {
                    d.map(iova, pa, size, Prot.READ_WRITE);
                    mapTables(tables, addLeaves(leaves, iova, pa, size));
                }
            } else {
                List<Leaf> hit = overlapping(leaves, iova, iova + size);
                boolean cuts = hit.stream().anyMatch(l -> l.iova() < iova || l.iova() + l.size() > iova + size);
                if (cuts) {
                    TableState before = state(d);
                    assertThatThrownBy(() -> d.unmap(iova, size)).as(at).isInstanceOf(MappingConflictException.class);
                    assertThat(state(d)).as(at).isEqualTo(before);
                } else {
                    long expected = hit.stream().mapToLong(Leaf::size).sum();
                    assertThat(d.unmap(iova, size)).as(at).isEqualTo(expected);
                    hit.forEach(l -> leaves.remove(l.iova()));
                    unmapTables(tables, iova, iova + size);
                }
            }
            for (int probe = 0; probe < 8; probe++) {
                long q = probe < 4 || leaves.isEmpty() ? (rnd.nextLong() & (window - 1)) : randomLeafByte(rnd, leaves);
                Map.Entry<Long, Leaf> e = leaves.floorEntry(q);
                Leaf l = e == null || e.getValue().iova() + e.getValue().size() <= q ? null : e.getValue();
                Optional<Translation> t = iommu.walk(0, q);
                if (l == null) {
                    assertThat(t).as("%s probe %x", at, q).isEmpty();
                } else {
                    assertThat(t).as("%s probe %x", at, q).isPresent();
                    assertThat(t.get().pa()).as("%s probe %x", at, q).isEqualTo(l.pa() + (q - l.iova()));
                    assertThat(t.get().pageSize()).as("%s probe %x", at, q).isEqualTo(l.size());
                }
            }
            if (op % 64 == 0 || op == ops - 1) {
                long count = 1 + tables.size();
                assertThat(((PagingDomain) d).table().tablePages()).as(at).hasSize((int) count);
                assertThat(memory.allocator().usage().tableBytes()).as(at).isEqualTo(tablesBefore + count * K4);
            }
        }
        assertThat(d.unmap(0, window))
                .isEqualTo(leaves.values().stream().mapToLong(Leaf::size).sum());
        assertThat(((PagingDomain) d).table().tablePages())
                .as("the root and the level-1 table, which no unmap frees")
                .hasSize(tables.isEmpty() ? 1 : 2);
        d.close();
        assertThat(memory.allocator().usage().tableBytes()).isEqualTo(tablesBefore);
    }

    private static long[] randomRange(Random rnd, long window) {
        int shape = rnd.nextInt(10);
        long unit = shape < 6 ? K4 : shape < 9 ? M2 : G1;
        long count = unit == G1 ? 1 : 1 + rnd.nextInt(unit == K4 ? 64 : 3);
        long size = unit * count;
        long iova = (rnd.nextLong() & (window - 1)) & -unit;
        if (unit == M2 && rnd.nextInt(3) == 0) {
            iova += K4 * rnd.nextInt(4); // unaligned start: pages then blocks
        }
        if (iova + size > window) {
            iova = window - size;
        }
        return new long[] {iova, size};
    }

    private static long randomLeafByte(Random rnd, TreeMap<Long, Leaf> leaves) {
        Map.Entry<Long, Leaf> e = leaves.ceilingEntry(rnd.nextLong() & (4 * G1 - 1));
        Leaf l = (e != null ? e : leaves.firstEntry()).getValue();
        return l.iova() + (rnd.nextLong() & (l.size() - 1));
    }

    private static List<Leaf> overlapping(TreeMap<Long, Leaf> leaves, long from, long to) {
        List<Leaf> out = new ArrayList<>();
        Map.Entry<Long, Leaf> first = leaves.floorEntry(from);
        if (first != null && first.getValue().iova() + first.getValue().size() > from) {
            out.add(first.getValue());
        }
        for (Leaf l : leaves.subMap(from, false, to, false).values()) {
            out.add(l);
        }
        if (leaves.containsKey(from) && (out.isEmpty() || out.get(0).iova() != from)) {
            out.add(0, leaves.get(from));
        }
        return out;
    }

    /** The greedy split io-pgtable uses: the largest page that alignment and length allow. */
    /** Adds the leaves the greedy split makes of a map and returns them. */
    private static List<Leaf> addLeaves(TreeMap<Long, Leaf> leaves, long iova, long pa, long size) {
        List<Leaf> added = new ArrayList<>();
        long done = 0;
        while (done < size) {
            for (long page : new long[] {G1, M2, K4}) {
                if ((((iova + done) | (pa + done)) & (page - 1)) == 0 && size - done >= page) {
                    Leaf l = new Leaf(iova + done, pa + done, page);
                    leaves.put(l.iova(), l);
                    added.add(l);
                    done += page;
                    break;
                }
            }
        }
        return added;
    }

    /** The table at {@code level} (1, 2 or 3) whose range holds {@code iova}: its level and IOVA prefix. */
    private static long tableKey(int level, long iova) {
        return ((long) level << 60) | (iova >>> (48 - 9 * level));
    }

    /** The tables a successful map leaves: its leaves' paths exist, and a block replaces the tables below it. */
    private static void mapTables(Set<Long> tables, List<Leaf> added) {
        for (Leaf l : added) {
            tables.add(tableKey(1, l.iova()));
            if (l.size() <= M2) {
                tables.add(tableKey(2, l.iova()));
            }
            if (l.size() == K4) {
                tables.add(tableKey(3, l.iova()));
            }
            long end = l.iova() + l.size();
            tables.removeIf(k -> {
                int level = (int) (k >>> 60);
                long start = (k & ((1L << 60) - 1)) << (48 - 9 * level);
                return l.size() > K4 && start >= l.iova() && start + (1L << (48 - 9 * level)) <= end;
            });
        }
    }

    /**
     * io-pgtable-arm's lifetime: an unmap frees the level-2 and level-3 tables whose whole 1 GiB or
     * 2 MiB block it covers (both are page sizes), with the tables below them; level-1 tables
     * stay.
     */
    private static void unmapTables(Set<Long> tables, long from, long to) {
        tables.removeIf(k -> {
            int level = (int) (k >>> 60);
            long span = 1L << (48 - 9 * level);
            long start = (k & ((1L << 60) - 1)) << (48 - 9 * level);
            return level >= 2 && start >= from && start + span <= to;
        });
    }
}
