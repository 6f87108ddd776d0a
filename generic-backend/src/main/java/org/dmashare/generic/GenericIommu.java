package org.dmashare.generic;

import org.dmashare.iommu.DomainType;
import org.dmashare.iommu.IommuBackend;
import org.dmashare.iommu.IommuFault;
import org.dmashare.iommu.Prot;
import org.dmashare.iommu.Translation;
import org.dmashare.iommu.support.AbstractIommu;
import org.dmashare.iommu.support.BaseDomain;
import org.dmashare.iommu.support.PagingDomain;
import org.dmashare.memory.PhysicalMemory;
import org.dmashare.pgtable.PageTableWalker;

/**
 * One generic LPAE IOMMU unit. Each stream has a context: a mode (blocked, translate or bypass)
 * and a translation table base register holding the root table's physical address; the hardware
 * walk starts from that register, never from a software object.
 */
public final class GenericIommu extends AbstractIommu {
    private static final int MODE_BLOCKED = 0;
    private static final int MODE_TRANSLATE = 1;
    private static final int MODE_BYPASS = 2;

    private final LpaeFormat format;
    private final boolean bypass;
    private final int[] mode;
    private final long[] ttbr;

    GenericIommu(
            IommuBackend.Variant variant,
            String name,
            PhysicalMemory memory,
            int streams,
            LpaeFormat format,
            boolean bypass) {
        super(GenericBackend.NAME, variant, name, memory, streams, format.inputBits(), format.outputBits());
        this.format = format;
        this.bypass = bypass;
        this.mode = new int[streams];
        this.ttbr = new long[streams];
    }

    /**
     * The descriptor format of this unit's tables.
     *
     * @return the format
     */
    public LpaeFormat format() {
        return format;
    }

    /**
     * The translation table base register of a stream: the root table's physical address, or 0
     * when the stream does not translate.
     *
     * @param streamId the stream
     * @return the register value
     */
    public synchronized long ttbr(int streamId) {
        checkStream(streamId);
        return ttbr[streamId];
    }

    @Override
    protected PagingDomain createPagingDomain() {
        return new LpaeDomain(this);
    }

    @Override
    protected boolean supportsBypass() {
        return bypass;
    }

    @Override
    protected synchronized void programStream(int streamId, BaseDomain domain) {
        if (domain == null || domain.type() == DomainType.BLOCKED) {
            mode[streamId] = MODE_BLOCKED;
            ttbr[streamId] = 0;
        } else if (domain.type() == DomainType.IDENTITY) {
            mode[streamId] = MODE_BYPASS;
            ttbr[streamId] = 0;
        } else {
            mode[streamId] = MODE_TRANSLATE;
            ttbr[streamId] = ((PagingDomain) domain).table().rootPa();
        }
    }

    @Override
    protected PageTableWalker.Result hardwareWalk(int streamId, long iova) {
        int m;
        long root;
        synchronized (this) {
            m = mode[streamId];
            root = ttbr[streamId];
        }
        if (m == MODE_BLOCKED) {
            return new PageTableWalker.Result(null, IommuFault.Reason.BLOCKED, -1);
        }
        if (m == MODE_BYPASS) {
            return new PageTableWalker.Result(
                    new Translation(iova, iova, variant().granule(), Prot.READ_WRITE), null, -1);
        }
        return PageTableWalker.walk(memory(), format, root, iova);
    }

    /** A paging domain whose aperture is the whole input address range. */
    private static final class LpaeDomain extends PagingDomain {
        LpaeDomain(GenericIommu iommu) {
            super(iommu, iommu.format, 0, 1L << iommu.format.inputBits());
        }
    }
}
