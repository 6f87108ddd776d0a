package org.dmashare.amd;

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
 * One AMD-Vi unit. Each device ID (stream) has a device-table entry whose first word is modelled
 * bit-exact: V (bit 0), TV (bit 1), mode (bits 11:9), page-table root (bits 51:12), IR (bit 61),
 * IW (bit 62). A translating device gets {@code V | TV | IR | IW | root | mode << 9}, as Linux's
 * set_dte_entry writes for a v1 domain; a blocked one {@code V | TV} (no IR, no IW); an identity
 * one {@code V | TV | IR | IW} with mode 0. The hardware walk reads only the DTE: it starts at the
 * root with the DTE's mode, so an IOVA beyond what that mode reaches faults. When a domain's top
 * grows, every DTE pointing at it is rewritten with the new root and mode before the map that
 * grew it writes a leaf (amd_iommu_change_top). DTEs are guarded by this unit's monitor.
 */
public final class AmdIommu extends AbstractIommu {
    /** DTE bit 0: valid. */
    public static final long DTE_V = 1L;
    /** DTE bit 1: translation information valid. */
    public static final long DTE_TV = 1L << 1;
    /** Shift of the DTE's 3-bit mode field. */
    public static final int DTE_MODE_SHIFT = 9;
    /** DTE bit 61: reads allowed. */
    public static final long DTE_IR = 1L << 61;
    /** DTE bit 62: writes allowed. */
    public static final long DTE_IW = 1L << 62;
    /** The DTE's root pointer, bits 51:12. */
    public static final long DTE_ROOT_MASK = 0x000F_FFFF_FFFF_F000L;

    private final AmdV1Format format;
    private final boolean bypass;
    private final long[] dte;
    private final BaseDomain[] programmed;
    private long dteWrites;

    AmdIommu(
            IommuBackend.Variant variant,
            String name,
            PhysicalMemory memory,
            int streams,
            AmdV1Format format,
            boolean bypass) {
        super(AmdBackend.NAME, variant, name, memory, streams, format.inputBits(), format.outputBits());
        this.format = format;
        this.bypass = bypass;
        this.dte = new long[streams];
        this.programmed = new BaseDomain[streams];
        for (int i = 0; i < streams; i++) {
            dte[i] = DTE_V | DTE_TV;
        }
    }

    /**
     * The entry format of this unit's tables.
     *
     * @return the format
     */
    public AmdV1Format format() {
        return format;
    }

    /**
     * Word 0 of a device's device-table entry.
     *
     * @param streamId the device ID
     * @return the DTE word
     * @throws org.dmashare.InvalidArgumentException if the stream does not exist
     */
    public synchronized long dte(int streamId) {
        checkStream(streamId);
        return dte[streamId];
    }

    /**
     * How many times a DTE was written (attach, detach, and every top growth of an attached
     * domain).
     *
     * @return the count
     */
    public synchronized long dteWrites() {
        return dteWrites;
    }

    @Override
    protected PagingDomain createPagingDomain() {
        return new AmdDomain(this);
    }

    @Override
    protected boolean supportsBypass() {
        return bypass;
    }

    @Override
    protected synchronized void programStream(int streamId, BaseDomain domain) {
        programmed[streamId] = domain;
        if (domain == null || domain.type() == DomainType.BLOCKED) {
            dte[streamId] = DTE_V | DTE_TV;
        } else if (domain.type() == DomainType.IDENTITY) {
            dte[streamId] = DTE_V | DTE_TV | DTE_IR | DTE_IW;
        } else {
            var table = ((PagingDomain) domain).table();
            dte[streamId] = translating(table.rootPa(), table.topLevel());
        }
        dteWrites++;
    }

    private static long translating(long rootPa, int topLevel) {
        return DTE_V
                | DTE_TV
                | DTE_IR
                | DTE_IW
                | (rootPa & DTE_ROOT_MASK)
                | ((long) AmdV1Format.modeOfTop(topLevel) << DTE_MODE_SHIFT);
    }

    /** A domain's top changed: rewrite every DTE that points at it (amd_iommu_change_top). */
    synchronized void topChanged(PagingDomain domain, long rootPa, int topLevel) {
        for (int sid = 0; sid < programmed.length; sid++) {
            if (programmed[sid] == domain) {
                dte[sid] = translating(rootPa, topLevel);
                dteWrites++;
            }
        }
    }

    @Override
    protected PageTableWalker.Result hardwareWalk(int streamId, long iova) {
        long entry;
        synchronized (this) {
            entry = dte[streamId];
        }
        if ((entry & DTE_V) == 0 || (entry & DTE_TV) == 0 || (entry & (DTE_IR | DTE_IW)) == 0) {
            return new PageTableWalker.Result(null, IommuFault.Reason.BLOCKED, -1);
        }
        int mode = (int) ((entry >>> DTE_MODE_SHIFT) & 7);
        if (mode == 0) {
            return new PageTableWalker.Result(
                    new Translation(iova, iova, variant().granule(), Prot.READ_WRITE), null, -1);
        }
        if (mode > AmdV1Format.MAX_MODE) {
            return new PageTableWalker.Result(null, IommuFault.Reason.TRANSLATION, -1);
        }
        return PageTableWalker.walkFrom(memory(), format, entry & DTE_ROOT_MASK, AmdV1Format.MAX_MODE - mode, iova);
    }

    /** A paging domain over the whole input width; its top grows and the unit follows. */
    private static final class AmdDomain extends PagingDomain {
        private final AmdIommu unit;

        AmdDomain(AmdIommu iommu) {
            super(iommu, iommu.format, 0, 1L << iommu.format.inputBits());
            this.unit = iommu;
        }

        @Override
        protected void topChanged(long rootPa, int topLevel) {
            unit.topChanged(this, rootPa, topLevel);
        }
    }
}
