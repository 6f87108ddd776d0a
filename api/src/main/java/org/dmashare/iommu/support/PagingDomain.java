package org.dmashare.iommu.support;

import org.dmashare.Hex;
import org.dmashare.InvalidArgumentException;
import org.dmashare.iommu.DomainType;
import org.dmashare.iommu.Prot;
import org.dmashare.iova.IovaAllocator;
import org.dmashare.iova.IovaSpace;
import org.dmashare.iova.internal.DomainIovas;
import org.dmashare.pgtable.IoPageTable;
import org.dmashare.pgtable.PteFormat;

/**
 * A paging domain over the shared {@link IoPageTable} engine: tables in the unit's memory, an
 * aperture, and an IOVA allocator over the aperture that never hands out IOVA 0 (it starts at the
 * first granule, as Linux's iommu-dma does). Everything a format brings — 4-byte entries, per-level
 * table sizes, replicated or size-encoded leaves, a growing top, its unmap policy — is the
 * engine's business, so a backend extends this class without overriding map, unmap or
 * iovaToPhys. Designed for extension: a backend may override {@link #flushIotlb()} or
 * {@link #release()} to keep hardware state in step (for example a locked DART copying root
 * entries into a firmware table), and {@link #topChanged(long, int)} to reprogram a root that
 * grew.
 */
public class PagingDomain extends BaseDomain {
    private final IoPageTable table;
    private final IovaAllocator iovas;
    private final IovaSpace iovaSpace;
    private final long apertureStart;
    private final long apertureEnd;

    /**
     * Creates an empty paging domain.
     *
     * @param iommu the unit
     * @param format the table format
     * @param apertureStart lowest mappable IOVA (granule-aligned)
     * @param apertureEnd one past the highest mappable IOVA (granule-aligned, at most
     *     2^inputBits of the format)
     * @throws InvalidArgumentException if the aperture is empty or misaligned, or reaches beyond
     *     the format's input width
     * @throws org.dmashare.PhysicalMemoryExhaustedException if the root table cannot be allocated
     */
    protected PagingDomain(AbstractIommu iommu, PteFormat format, long apertureStart, long apertureEnd) {
        super(iommu, DomainType.PAGING);
        long granule = 1L << format.granuleShift();
        int bits = format.inputBits();
        long limit = bits >= 63 ? Long.MAX_VALUE : 1L << bits;
        if (apertureStart < 0
                || apertureEnd <= apertureStart
                || apertureEnd > limit
                || ((apertureStart | apertureEnd) & (granule - 1)) != 0 && apertureEnd != Long.MAX_VALUE) {
            throw new InvalidArgumentException("aperture " + Hex.of(apertureStart) + ".." + Hex.of(apertureEnd)
                    + " refused: it must be non-empty, aligned to the granule " + Hex.size(granule)
                    + " and inside the format's " + format.inputBits() + "-bit input width (up to "
                    + Hex.of(limit) + ")");
        }
        long first = Math.max(apertureStart, granule);
        // A memory with per-CPU page lists models an SMP kernel: its domains keep per-CPU IOVA caches too.
        this.iovas = iommu.memory().allocator().hasPageCaches()
                ? IovaAllocator.withRangeCaches(
                        first, apertureEnd, granule, iommu.memory().failures())
                : new IovaAllocator(first, apertureEnd, granule, iommu.memory().failures());
        this.iovaSpace = DomainIovas.view(iovas);
        this.apertureStart = apertureStart;
        this.apertureEnd = apertureEnd;
        this.table = new IoPageTable(iommu.memory(), format, this::topChanged);
    }

    /**
     * Called when the table's top grows (formats with {@link PteFormat#startLevel()} above 0,
     * such as AMD-Vi v1), with the table's lock held and before the map that grew it writes any
     * leaf: the backend reprograms the root register of every stream attached to this domain (for
     * AMD-Vi, the device-table entry's root pointer and mode). Also called when a failed map takes
     * the top back. The default does nothing: fixed-top formats never call it. An override must
     * not call this domain's map or unmap.
     *
     * @param rootPa the new top table's physical address
     * @param topLevel its level
     */
    protected void topChanged(long rootPa, int topLevel) {}

    /**
     * The page table this domain edits.
     *
     * @return the table
     */
    public final IoPageTable table() {
        return table;
    }

    @Override
    public final long granule() {
        return 1L << table.format().granuleShift();
    }

    @Override
    public final long pageSizes() {
        return table.format().pageSizes();
    }

    @Override
    public final long apertureStart() {
        return apertureStart;
    }

    @Override
    public final long apertureEnd() {
        return apertureEnd;
    }

    @Override
    public final IovaSpace iovaSpace() {
        return iovaSpace;
    }

    /**
     * Reserves {@code [iova, iova + size)} of this domain's IOVA space so that it is never handed
     * out: for ranges the hardware or firmware owns (a locked DART's firmware mappings). Meant for
     * the backend's constructor.
     *
     * @param iova first IOVA, a multiple of the granule, inside the space
     * @param size bytes, a positive multiple of the granule
     * @throws InvalidArgumentException if the range is misaligned or outside the space
     * @throws org.dmashare.MappingConflictException if part of it is allocated or reserved
     */
    protected final void reserveIova(long iova, long size) {
        iovas.reserve(iova, size);
    }

    @Override
    public void map(long iova, long pa, long size, Prot prot) {
        checkOpen();
        checkAperture("map", iova, size);
        table.map(iova, pa, size, prot);
    }

    @Override
    public long unmap(long iova, long size) {
        checkOpen();
        checkAperture("unmap", iova, size);
        return table.unmap(iova, size);
    }

    @Override
    public long iovaToPhys(long iova) {
        long pa = table.iovaToPhys(iova);
        return pa < 0 ? NO_TRANSLATION : pa;
    }

    private void checkAperture(String op, long iova, long size) {
        if (size <= 0 || iova < apertureStart || iova > apertureEnd - size) {
            throw new InvalidArgumentException(op + " of IOVA " + Hex.of(iova) + " size " + Hex.of(size)
                    + " refused: the range must be non-empty and inside the aperture "
                    + Hex.range(apertureStart, apertureEnd - apertureStart));
        }
    }

    /** Frees every page-table page. */
    @Override
    protected void release() {
        table.close();
    }
}
