package org.dmashare.sharing;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.List;
import org.dmashare.GranuleMismatchException;
import org.dmashare.Hex;
import org.dmashare.UnsafeScatterListException;
import org.dmashare.fixture.TableState;
import org.dmashare.fixture.TwoLevelBackend;
import org.dmashare.iommu.DeviceFaultException;
import org.dmashare.iommu.Iommu;
import org.dmashare.iommu.IommuBackends;
import org.dmashare.iommu.IommuConfig;
import org.dmashare.iommu.IommuDomain;
import org.dmashare.iommu.Translation;
import org.dmashare.iommu.support.PagingDomain;
import org.dmashare.iova.IovaAllocator;
import org.dmashare.memory.PageAllocator;
import org.dmashare.memory.PageUse;
import org.dmashare.memory.PhysicalMemory;
import org.dmashare.pgtable.IoPageTable;
import org.dmashare.pgtable.PageTableWalker;
import org.junit.jupiter.api.Test;

/**
 * The helper on the core alone: {@link DmaSharing} over domains of the test-only two-level backend
 * ({@link TwoLevelBackend}, found with {@code ServiceLoader} from this module's test resources).
 * Contiguity is checked by walking each unit's tables from memory, not by asking the software side.
 * The same guarantees on every real backend are in {@code dmashare-integration-tests} and the kit.
 */
class DmaSharingCoreTest {
    private static final long BASE = 0x8_0000_0000L;
    private static final long PAGE = 0x1000;

    private final PhysicalMemory memory = PhysicalMemory.create(BASE, 256L << 20, 4096);
    private final DmaSharing sharing = new DmaSharing(memory);
    /** Two 4 KiB-granule domains and one 16 KiB-granule domain, each on its own unit's stream 0. */
    private final IommuDomain a = domain("two-level-4k", "a");

    private final IommuDomain b = domain("two-level-4k", "b");
    private final IommuDomain c = domain("two-level-16k", "c");

    private IommuDomain domain(String variant, String name) {
        Iommu unit = IommuBackends.find(TwoLevelBackend.NAME)
                .create(IommuConfig.builder(variant).name(name).build(), memory);
        IommuDomain d = unit.createDomain();
        unit.device(0).attach(d);
        return d;
    }

    private static byte[] pattern(int length, int seed) {
        byte[] out = new byte[length];
        for (int i = 0; i < length; i++) {
            out[i] = (byte) (i * 31 + seed);
        }
        return out;
    }

    /** Every 4 KiB of the buffer's range in {@code d}, walked from the unit's registers, is the buffer's own byte. */
    private static void assertContiguousByWalk(SharedBuffer buffer, IommuDomain d) {
        long iova = buffer.iova(d);
        for (long o = 0; o < buffer.length(); o += PAGE) {
            Translation t = d.iommu().walk(0, iova + o).orElse(null);
            assertThat(t)
                    .as("walk of IOVA %s (offset %s) in %s", Hex.of(iova + o), Hex.of(o), d)
                    .isNotNull();
            assertThat(t.pa())
                    .as("IOVA %s (offset %s) in %s", Hex.of(iova + o), Hex.of(o), d)
                    .isEqualTo(buffer.physicalAddress(o));
        }
        assertThat(d.iommu().walk(0, iova + buffer.length()))
                .as("the byte after the range")
                .isEmpty();
    }

    /** The allocator, the IOVA allocators and every table, to compare before and after. */
    private List<Object> state() {
        List<IoPageTable> tables = new ArrayList<>();
        List<IovaAllocator.Snapshot> iovas = new ArrayList<>();
        for (IommuDomain d : List.of(a, b, c)) {
            tables.add(((PagingDomain) d).table());
            iovas.add(d.iovaSpace().snapshot());
        }
        return List.of(TableState.of(memory, tables.toArray(IoPageTable[]::new)), iovas);
    }

    @Test
    void aBufferInTwoDomainsIsContiguousInEachAndBothDevicesSeeItsBytes() {
        try (SharedBuffer buf = sharing.allocate(100 * 1024, List.of(a, b))) {
            assertContiguousByWalk(buf, a);
            assertContiguousByWalk(buf, b);
            byte[] data = pattern(100 * 1024, 5);
            buf.write(0, data);
            assertThat(a.iommu().device(0).read(buf.iova(a), data.length)).isEqualTo(data);
            assertThat(b.iommu().device(0).read(buf.iova(b), data.length)).isEqualTo(data);
            byte[] fromB = pattern(3 * 1024, 9);
            b.iommu().device(0).write(buf.iova(b) + 0x1_0000, fromB);
            assertThat(a.iommu().device(0).read(buf.iova(a) + 0x1_0000, fromB.length))
                    .isEqualTo(fromB);
        }
    }

    @Test
    void addressesAndLengthsAreMultiplesOfTheLargestGranuleAndTheRequestedAlignment() {
        try (SharedBuffer buf = sharing.allocate(20 * 1024, List.of(a, c));
                SharedBuffer over = sharing.allocate(
                        20 * 1024,
                        List.of(a, c),
                        ShareOptions.builder().alignment(0x1_0000).build())) {
            assertThat(buf.alignment()).as("c's 16 KiB granule").isEqualTo(0x4000);
            assertThat(over.alignment()).as("the requested 64 KiB").isEqualTo(0x1_0000);
            for (SharedBuffer s : List.of(buf, over)) {
                long align = s.alignment();
                assertThat(s.length() % align).isZero();
                assertThat(s.length()).isGreaterThanOrEqualTo(s.size());
                for (ScatterList.Segment seg : s.blocks()) {
                    assertThat(seg.pa() % align).as("block %s", seg).isZero();
                    assertThat(seg.length() % align).as("block %s", seg).isZero();
                }
                for (SharedBuffer.Mapping m : s.mappings()) {
                    assertThat(m.iova() % align).as("IOVA in %s", m.domain()).isZero();
                }
                assertContiguousByWalk(s, a);
                assertContiguousByWalk(s, c);
            }
        }
    }

    @Test
    void closeReturnsEveryBufferPageAndIovaKeepsOnlyEmptyTablesAndLeavesNothingReachable() {
        List<PageAllocator.Block> pagesBefore = nonTableBlocks();
        List<IovaAllocator.Snapshot> iovasBefore = iovas();
        SharedBuffer buf = sharing.allocate(100 * 1024, List.of(a, b, c));
        long iovaA = buf.iova(a);
        a.iommu().device(0).read(iovaA, 16); // warm the IOTLB
        assertThat(sharing.liveBuffers()).isOne();
        buf.close();
        buf.close(); // harmless
        assertThat(nonTableBlocks()).as("every buffer page back").isEqualTo(pagesBefore);
        assertThat(iovas()).isEqualTo(iovasBefore);
        for (IommuDomain d : List.of(a, b, c)) {
            IoPageTable t = ((PagingDomain) d).table();
            assertThat(PageTableWalker.leaves(memory, t.format(), t.rootPa()))
                    .as("leaves left in %s", d)
                    .isEmpty();
        }
        assertThat(sharing.liveBuffers()).isZero();
        assertThat(a.iommu().walk(0, iovaA)).isEmpty();
        assertThatThrownBy(() -> a.iommu().device(0).read(iovaA, 16))
                .as("not even through the warmed IOTLB")
                .isInstanceOf(DeviceFaultException.class);

        // The tables the format's lifetime kept (the unmap covered no whole 2 MiB block) serve the
        // next buffer: sharing and closing it again allocates and frees no table.
        List<Object> afterFirst = state();
        sharing.allocate(100 * 1024, List.of(a, b, c)).close();
        assertThat(state()).isEqualTo(afterFirst);
    }

    /** The allocator's blocks other than table pages. */
    private List<PageAllocator.Block> nonTableBlocks() {
        return memory.allocator().allocatedBlocks().stream()
                .filter(blk -> blk.use() != PageUse.PAGE_TABLE)
                .toList();
    }

    private List<IovaAllocator.Snapshot> iovas() {
        return List.of(
                a.iovaSpace().snapshot(),
                b.iovaSpace().snapshot(),
                c.iovaSpace().snapshot());
    }

    @Test
    void lateSharingChecksTheGranuleAndWorksForADeclaredFutureDomain() {
        try (SharedBuffer small = sharing.allocate(8 * 1024, List.of(a))) {
            List<Object> before = state();
            assertThatThrownBy(() -> small.shareWith(c))
                    .isInstanceOf(GranuleMismatchException.class)
                    .hasMessageContaining(Hex.size(0x1000))
                    .hasMessageContaining(Hex.size(0x4000));
            assertThat(state()).as("a refused share changes nothing").isEqualTo(before);
            assertThat(small.isMappedIn(c)).isFalse();
        }
        try (SharedBuffer planned = sharing.allocate(
                8 * 1024, List.of(a), ShareOptions.builder().futureDomains(c).build())) {
            assertThat(planned.alignment()).isEqualTo(0x4000);
            long iova = planned.shareWith(c);
            assertThat(iova % 0x4000).isZero();
            assertContiguousByWalk(planned, c);
            assertContiguousByWalk(planned, a);
        }
    }

    @Test
    void importMapsALentListPinsItsPagesAndRefusesAnUnalignedOne() {
        PageLease lease = sharing.allocatePages(0x8000, 0x4000);
        long base = lease.pages().segments().get(0).pa();
        assertThat(lease.pages().segments())
                .as("one 32 KiB block on fresh memory")
                .hasSize(1);
        ScatterList list = ScatterList.of(
                new ScatterList.Segment(base, 0x4000),
                new ScatterList.Segment(base + 0x4000, 0x2000),
                new ScatterList.Segment(base + 0x6000, 0x1000));
        SharedBuffer imported = sharing.importScatterList(lease, list, List.of(a, b), ShareOptions.DEFAULTS);
        assertThat(imported.ownsPages()).isFalse();
        assertThat(imported.length()).isEqualTo(0x7000);
        assertContiguousByWalk(imported, a);
        assertContiguousByWalk(imported, b);
        assertThat(imported.physicalAddress(0x4000)).isEqualTo(base + 0x4000);
        assertThat(imported.physicalAddress(0x6000)).isEqualTo(base + 0x6000);

        lease.close();
        assertThat(memory.allocator().isAllocated(base, 0x8000))
                .as("the import pins the lent pages")
                .isTrue();
        imported.close();
        assertThat(memory.allocator().isAllocated(base, 0x1000))
                .as("the last holder frees them")
                .isFalse();

        try (PageLease second = sharing.allocatePages(0x8000, 0x4000)) {
            long p = second.pages().segments().get(0).pa();
            ScatterList unaligned =
                    ScatterList.of(new ScatterList.Segment(p, 0x4000), new ScatterList.Segment(p + 0x4000, 0x2000));
            List<Object> before = state();
            assertThatThrownBy(() -> sharing.importScatterList(second, unaligned, List.of(c), ShareOptions.DEFAULTS))
                    .isInstanceOf(UnsafeScatterListException.class)
                    .hasMessageContaining("segment 1")
                    .extracting(e -> ((UnsafeScatterListException) e).segmentIndex())
                    .isEqualTo(1);
            assertThat(state()).isEqualTo(before);
        }
    }
}
