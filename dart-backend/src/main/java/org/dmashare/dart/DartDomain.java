package org.dmashare.dart;

import java.util.List;
import org.dmashare.Hex;
import org.dmashare.InvalidArgumentException;
import org.dmashare.MappingConflictException;
import org.dmashare.iommu.Prot;
import org.dmashare.iommu.support.PagingDomain;
import org.dmashare.memory.PhysicalMemory;
import org.dmashare.pgtable.IoPageTable;

/**
 * A paging domain of a {@link DartIommu}: 16 KiB pages only, aperture {@code [0, 2^ias)}, tables
 * in the DART's PTE format. Besides the {@link org.dmashare.iommu.IommuDomain} operations it can
 * map pages with a sub-page window ({@link #map(long, long, long, Prot, long, long)}).
 *
 * <p>On a locked DART the IOVA ranges whose root entries the firmware owns (for example its
 * framebuffer mapping) are reserved in the IOVA allocator and refused by {@code map}, so that
 * copying this domain's root entries into the firmware's table never replaces one of them.
 */
public final class DartDomain extends PagingDomain {
    private final DartPteFormat format;
    private final List<long[]> firmwareRanges;

    DartDomain(DartIommu iommu, DartPteFormat format) {
        super(iommu, format, 0, 1L << format.inputBits());
        this.format = format;
        this.firmwareRanges = List.copyOf(iommu.firmwareRanges(format));
        long start = iovaAllocator().start();
        long end = iovaAllocator().end();
        for (long[] r : firmwareRanges) {
            long from = Math.max(r[0], start);
            long to = Math.min(r[1], end);
            if (from < to) {
                iovaAllocator().reserve(from, to - from);
            }
        }
    }

    /**
     * The PTE format of this domain's tables.
     *
     * @return the format
     */
    public DartPteFormat format() {
        return format;
    }

    /**
     * Maps whole 16 KiB pages; leaves get the default window (the whole page), as Linux writes
     * them.
     *
     * @throws MappingConflictException also if the range meets an IOVA range the firmware of a
     *     locked DART owns
     */
    @Override
    public void map(long iova, long pa, long size, Prot prot) {
        checkFirmware(iova, size);
        super.map(iova, pa, size, prot);
    }

    /**
     * Flushes the domain's streams, as Linux's apple-dart driver does on every
     * {@code iotlb_sync_map} (DART invalidation is whole-stream only).
     */
    @Override
    public void syncMap(long iova, long size) {
        super.syncMap(iova, size); // checks the range
        flushIotlb();
    }

    /**
     * Maps whole 16 KiB pages and limits device access in each page to the bytes
     * {@code [subpageStart, subpageEnd)} (offsets inside the page, the same for every page of the
     * range). An access outside the window faults with {@code SUBPAGE_PROT}. On DART1 the leaves
     * have SP_DIS clear; on DART2 the window is always enforced.
     *
     * <p>Assumption (UNCONFIRMED): the sub-page unit is 4 bytes and SP_END is inclusive, so the
     * offsets must be multiples of 4.
     *
     * <p>The leaves are installed by the shared engine with the whole-page window and narrowed
     * before this call returns, all under the table's {@link IoPageTable#lock() lock}; a device
     * walking the new range while the call runs may briefly see the whole page (as with any map,
     * callers flush or sync before handing the IOVA to the device).
     *
     * @param iova first IOVA, 16 KiB aligned, inside the aperture
     * @param pa first physical address, 16 KiB aligned, inside memory and the output size
     * @param size bytes, a positive multiple of 16 KiB
     * @param prot rights; must allow read or write
     * @param subpageStart first allowed byte offset in each page, a multiple of 4
     * @param subpageEnd one past the last allowed byte offset, a multiple of 4, above
     *     {@code subpageStart}, at most 0x4000
     * @throws InvalidArgumentException if an argument is misaligned or out of range; nothing is
     *     mapped
     * @throws MappingConflictException if part of the range is mapped or owned by the firmware
     * @throws org.dmashare.PhysicalMemoryExhaustedException if a table page cannot be allocated
     * @throws org.dmashare.ObjectClosedException if the domain is closed
     */
    public void map(long iova, long pa, long size, Prot prot, long subpageStart, long subpageEnd) {
        DartPteFormat.checkWindow(subpageStart, subpageEnd);
        checkFirmware(iova, size);
        IoPageTable table = table();
        PhysicalMemory memory = iommu().memory();
        synchronized (table.lock()) {
            super.map(iova, pa, size, prot);
            for (long off = 0; off < size; off += DartPteFormat.GRANULE) {
                long entry = leafEntryAddress(iova + off);
                memory.writeLong(entry, format.withSubpage(memory.readLong(entry), subpageStart, subpageEnd));
            }
        }
    }

    /**
     * The physical address of the L2 entry that maps {@code iova}, found by walking this domain's
     * tables in memory under the table's {@link IoPageTable#lock() lock}; for checking raw PTEs.
     *
     * @param iova any IOVA in the aperture
     * @return the entry's address, or -1 if a table on the way is missing
     */
    public long leafEntryAddress(long iova) {
        IoPageTable table = table();
        PhysicalMemory memory = iommu().memory();
        synchronized (table.lock()) {
            if (table.isClosed()) {
                return -1;
            }
            long t = table.rootPa();
            for (int level = 0; level < format.levels() - 1; level++) {
                long pte = memory.readLong(t + 8L * format.index(iova, level));
                if (!DartPteFormat.isValid(pte)) {
                    return -1;
                }
                t = format.decodeAddress(pte);
            }
            return t + 8L * format.index(iova, format.levels() - 1);
        }
    }

    /**
     * The IOVA ranges the firmware of a locked DART owned when this domain was created.
     *
     * @return {start, end} pairs; empty on an unlocked DART
     */
    public List<long[]> firmwareRanges() {
        return firmwareRanges.stream().map(long[]::clone).toList();
    }

    private void checkFirmware(long iova, long size) {
        for (long[] r : firmwareRanges) {
            if (iova < r[1] && iova + size > r[0]) {
                throw new MappingConflictException("map of IOVA " + Hex.range(iova, size) + " refused: the firmware of "
                        + iommu().name() + " owns the root entries of " + Hex.range(r[0], r[1] - r[0])
                        + " (a locked DART keeps them); map outside it");
            }
        }
    }
}
