package org.dmashare.examples.flat;

import org.dmashare.iommu.DomainType;
import org.dmashare.iommu.IommuBackend;
import org.dmashare.iommu.IommuFault;
import org.dmashare.iommu.support.AbstractIommu;
import org.dmashare.iommu.support.BaseDomain;
import org.dmashare.iommu.support.PagingDomain;
import org.dmashare.memory.PhysicalMemory;
import org.dmashare.pgtable.PageTableWalker;

/**
 * One {@code flat} IOMMU unit. Each stream has one register: the physical address of its table,
 * or 0 when the stream is blocked. The hardware walk starts from that register, never from a
 * software object. No bypass: identity domains are refused.
 */
public final class FlatIommu extends AbstractIommu {
    private final FlatFormat format;
    private final long[] tableBase;

    FlatIommu(IommuBackend.Variant variant, String name, PhysicalMemory memory, int streams, FlatFormat format) {
        super(FlatBackend.NAME, variant, name, memory, streams, format.inputBits(), format.outputBits());
        this.format = format;
        this.tableBase = new long[streams];
    }

    /**
     * The table base register of a stream.
     *
     * @param streamId the stream
     * @return the table's physical address, 0 when the stream is blocked
     * @throws org.dmashare.InvalidArgumentException if the stream does not exist
     */
    public synchronized long tableBase(int streamId) {
        checkStream(streamId);
        return tableBase[streamId];
    }

    @Override
    protected PagingDomain createPagingDomain() {
        return new FlatDomain(this);
    }

    @Override
    protected synchronized void programStream(int streamId, BaseDomain domain) {
        tableBase[streamId] = domain != null && domain.type() == DomainType.PAGING
                ? ((PagingDomain) domain).table().rootPa()
                : 0;
    }

    @Override
    protected PageTableWalker.Result hardwareWalk(int streamId, long iova) {
        long base;
        synchronized (this) {
            base = tableBase[streamId];
        }
        if (base == 0) {
            return new PageTableWalker.Result(null, IommuFault.Reason.BLOCKED, -1);
        }
        return PageTableWalker.walk(memory(), format, base, iova);
    }

    /** A paging domain over the whole 512 MiB IOVA space. */
    private static final class FlatDomain extends PagingDomain {
        FlatDomain(FlatIommu iommu) {
            super(iommu, iommu.format, 0, 1L << FlatFormat.INPUT_BITS);
        }
    }
}
