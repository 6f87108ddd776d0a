package org.dmashare.iommu.support;

import org.dmashare.Hex;
import org.dmashare.InvalidArgumentException;
import org.dmashare.iommu.DomainType;
import org.dmashare.iommu.Prot;
import org.dmashare.iova.IovaAllocator;
import org.dmashare.pgtable.IoPageTable;
import org.dmashare.pgtable.PteFormat;

/**
 * A paging domain over the shared {@link IoPageTable} engine: tables in the unit's memory, an
 * aperture, and an IOVA allocator over the aperture that never hands out IOVA 0 (it starts at the
 * first granule, as Linux's iommu-dma does). Designed for extension: a backend may override
 * {@link #flushIotlb()} or {@link #release()} to keep hardware state in step (for example a
 * locked DART copying root entries into a firmware table).
 */
public class PagingDomain extends BaseDomain {
    private final IoPageTable table;
    private final IovaAllocator iovas;
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
     * @throws InvalidArgumentException if the aperture is empty or misaligned
     * @throws org.dmashare.PhysicalMemoryExhaustedException if the root table cannot be allocated
     */
    protected PagingDomain(AbstractIommu iommu, PteFormat format, long apertureStart, long apertureEnd) {
        super(iommu, DomainType.PAGING);
        long granule = 1L << format.granuleShift();
        long first = Math.max(apertureStart, granule);
        this.iovas = new IovaAllocator(first, apertureEnd, granule, iommu.memory().failures());
        this.apertureStart = apertureStart;
        this.apertureEnd = apertureEnd;
        this.table = new IoPageTable(iommu.memory(), format);
    }

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
    public final IovaAllocator iovaAllocator() {
        return iovas;
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
