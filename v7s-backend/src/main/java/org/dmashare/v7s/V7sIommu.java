package org.dmashare.v7s;

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
 * One ARM v7s IOMMU unit. Each stream has a context: a mode (blocked, translate or bypass) and a
 * TTBR holding what Linux programs for a coherent walker: the 16 KiB-aligned root table's
 * address with S (bit 1), NOS (bit 5) and inner/outer write-back write-allocate (bits 6 and 3)
 * set, {@code root | 0x6A}. The hardware walk starts from the TTBR's bits [31:14], never from a
 * software object. Registers are guarded by this unit's monitor.
 */
public final class V7sIommu extends AbstractIommu {
    /** The TTBR attribute bits Linux sets for a coherent walker: S, NOS, IRGN/ORGN = WBWA. */
    public static final long TTBR_COHERENT_ATTRS = 0x6A;
    /** The TTBR bits holding the root table's address (16 KiB aligned). */
    public static final long TTBR_ADDRESS_MASK = 0xFFFF_C000L;

    private static final int MODE_BLOCKED = 0;
    private static final int MODE_TRANSLATE = 1;
    private static final int MODE_BYPASS = 2;

    private final V7sFormat format;
    private final boolean bypass;
    private final int[] mode;
    private final long[] ttbr;

    V7sIommu(
            IommuBackend.Variant variant,
            String name,
            PhysicalMemory memory,
            int streams,
            V7sFormat format,
            boolean bypass) {
        super(V7sBackend.NAME, variant, name, memory, streams, format.inputBits(), format.outputBits());
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
    public V7sFormat format() {
        return format;
    }

    /**
     * A stream's TTBR: {@code root | 0x6A} while it translates, 0 otherwise.
     *
     * @param streamId the stream
     * @return the register value
     * @throws org.dmashare.InvalidArgumentException if the stream does not exist
     */
    public synchronized long ttbr(int streamId) {
        checkStream(streamId);
        return ttbr[streamId];
    }

    @Override
    protected PagingDomain createPagingDomain() {
        return new V7sDomain(this);
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
            ttbr[streamId] = ((PagingDomain) domain).table().rootPa() | TTBR_COHERENT_ATTRS;
        }
    }

    @Override
    protected PageTableWalker.Result hardwareWalk(int streamId, long iova) {
        int m;
        long base;
        synchronized (this) {
            m = mode[streamId];
            base = ttbr[streamId];
        }
        if (m == MODE_BLOCKED) {
            return new PageTableWalker.Result(null, IommuFault.Reason.BLOCKED, -1);
        }
        if (m == MODE_BYPASS) {
            return new PageTableWalker.Result(
                    new Translation(iova, iova, variant().granule(), Prot.READ_WRITE), null, -1);
        }
        return PageTableWalker.walk(memory(), format, base & TTBR_ADDRESS_MASK, iova);
    }

    /** A paging domain over the whole 32-bit IOVA space. */
    private static final class V7sDomain extends PagingDomain {
        V7sDomain(V7sIommu iommu) {
            super(iommu, iommu.format, 0, 1L << 32);
        }
    }
}
