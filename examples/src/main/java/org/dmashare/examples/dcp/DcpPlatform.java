package org.dmashare.examples.dcp;

import com.google.inject.Inject;
import com.google.inject.name.Named;
import org.dmashare.Hex;
import org.dmashare.PhysicalMemoryExhaustedException;
import org.dmashare.iommu.DmaDevice;
import org.dmashare.iommu.Iommu;
import org.dmashare.iommu.IommuDomain;
import org.dmashare.memory.PageUse;
import org.dmashare.memory.PhysicalMemory;

/**
 * An M1-like display path: RAM at {@code 0x8_0000_0000}, the DCP's own DART ({@code dcp-dart},
 * t8020) with the DCP on stream 0, and the display DART ({@code disp0-dart}, t8020) with the
 * PIODMA engine on stream 4. Each device is attached to a fresh paging domain of its DART. Built
 * by {@link DcpPlatformModule}.
 */
public final class DcpPlatform {
    /** Where RAM starts on M1. */
    public static final long RAM_BASE = 0x8_0000_0000L;
    /** The DCP's stream on its DART. */
    public static final int DCP_STREAM = 0;
    /** The PIODMA engine's stream on the display DART. */
    public static final int PIODMA_STREAM = 4;

    private final PhysicalMemory memory;
    private final Iommu dcpDart;
    private final Iommu displayDart;
    private final IommuDomain dcpDomain;
    private final IommuDomain piodmaDomain;

    /**
     * Wires the platform; attaches DCP and PIODMA to fresh paging domains.
     *
     * @param memory the modelled RAM
     * @param dcpDart the DCP's DART
     * @param displayDart the display DART
     */
    @Inject
    public DcpPlatform(
            PhysicalMemory memory, @Named("dcp-dart") Iommu dcpDart, @Named("disp0-dart") Iommu displayDart) {
        this.memory = memory;
        this.dcpDart = dcpDart;
        this.displayDart = displayDart;
        this.dcpDomain = dcpDart.createDomain();
        this.piodmaDomain = displayDart.createDomain();
        dcp().attach(dcpDomain);
        piodma().attach(piodmaDomain);
    }

    /**
     * The modelled RAM.
     *
     * @return the memory
     */
    public PhysicalMemory memory() {
        return memory;
    }

    /**
     * The DCP (stream 0 of the DCP DART).
     *
     * @return the device
     */
    public DmaDevice dcp() {
        return dcpDart.device(DCP_STREAM);
    }

    /**
     * The PIODMA engine (stream 4 of the display DART).
     *
     * @return the device
     */
    public DmaDevice piodma() {
        return displayDart.device(PIODMA_STREAM);
    }

    /**
     * The DCP's domain.
     *
     * @return the domain
     */
    public IommuDomain dcpDomain() {
        return dcpDomain;
    }

    /**
     * The PIODMA engine's domain.
     *
     * @return the domain
     */
    public IommuDomain piodmaDomain() {
        return piodmaDomain;
    }

    /**
     * Fragments physical memory the way a long-running system is: the first {@code span} bytes
     * are taken in 16 KiB blocks and every other block, plus the first page of each kept one, is
     * given back, so free memory is scattered 4 KiB and 16 KiB holes.
     *
     * @param span bytes to fragment, a multiple of 32 KiB
     */
    public void fragment(long span) {
        long block = 0x4000;
        long page = memory.pageSize();
        for (long pa = memory.base(); pa < memory.base() + span; pa += block) {
            if (memory.allocator().isAllocated(pa, block)) {
                continue;
            }
            try {
                memory.allocator().allocateAt(pa, block, PageUse.BUFFER);
            } catch (PhysicalMemoryExhaustedException partlyTaken) {
                continue;
            }
            boolean giveBack = ((pa - memory.base()) / block) % 2 == 1;
            if (giveBack) {
                memory.allocator().free(pa, block);
            } else if (page < block) {
                memory.allocator().split(pa, block);
                memory.allocator().free(pa, page);
            }
        }
    }

    @Override
    public String toString() {
        return "DcpPlatform[RAM " + Hex.range(memory.base(), memory.size()) + ", PAGE_SIZE "
                + Hex.size(memory.pageSize()) + ", " + dcpDart.name() + " sid " + DCP_STREAM + ", " + displayDart.name()
                + " sid " + PIODMA_STREAM + "]";
    }
}
