package org.dmashare.dart;

import org.dmashare.iommu.DeviceFaultException;
import org.dmashare.iommu.IommuConfig;
import org.dmashare.iommu.IommuFault;
import org.dmashare.iommu.Prot;
import org.dmashare.memory.PageUse;
import org.dmashare.memory.PhysicalMemory;

/** Shared fixtures for the DART tests. */
final class Darts {
    static final long RAM = 0x8_0000_0000L;
    static final DartBackend BACKEND = new DartBackend();

    private Darts() {}

    /** 8 GiB of sparse RAM at 0x8_0000_0000 with 16 KiB CPU pages (covers every vector address). */
    static PhysicalMemory memory() {
        return PhysicalMemory.create(RAM, 8L << 30, 16384);
    }

    static DartIommu dart(String variant, PhysicalMemory memory) {
        return BACKEND.create(
                IommuConfig.builder(variant).name(variant + "-dart").build(), memory);
    }

    static DartIommu dart(IommuConfig.Builder config, PhysicalMemory memory) {
        return BACKEND.create(config.build(), memory);
    }

    /**
     * A locked DART named {@code disp0} as the boot firmware leaves it: stream 0 maps
     * {@code [iova, iova + size)} to {@code pa} read-write, and the driver may not reprogram it.
     */
    static DartIommu lockedDart(String variant, PhysicalMemory memory, long iova, long pa, long size) {
        DartDump firmware = DartFirmware.of(DartVariant.of(variant), memory)
                .map(0, iova, pa, size, Prot.READ_WRITE)
                .dump();
        return BACKEND.restore(
                firmware,
                IommuConfig.builder(variant)
                        .name("disp0")
                        .option("locked", "true")
                        .build(),
                memory);
    }

    /** The fault a device access raised; fails the test if it did not fault. */
    static IommuFault faultOf(Runnable access) {
        try {
            access.run();
        } catch (DeviceFaultException e) {
            return e.fault();
        }
        throw new AssertionError("the access did not fault");
    }

    /** Allocates and fills one 16 KiB data page. */
    static long dataPage(PhysicalMemory memory, byte fill) {
        long pa = memory.allocator().allocate(0x4000, PageUse.BUFFER);
        memory.fill(pa, 0x4000, fill);
        return pa;
    }
}
