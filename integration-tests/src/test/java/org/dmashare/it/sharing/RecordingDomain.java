package org.dmashare.it.sharing;

import java.util.List;
import java.util.Set;
import org.dmashare.iommu.DmaDevice;
import org.dmashare.iommu.DomainType;
import org.dmashare.iommu.Iommu;
import org.dmashare.iommu.IommuDomain;
import org.dmashare.iommu.Prot;
import org.dmashare.iova.IovaAllocator;
import org.dmashare.memory.PhysicalMemory;

/** Delegates to a real domain and records unmaps and flushes with whether buffer pages were still allocated. */
final class RecordingDomain implements IommuDomain {
    private final IommuDomain real;
    private final List<String> events;
    private final PhysicalMemory memory;

    RecordingDomain(IommuDomain real, List<String> events, PhysicalMemory memory) {
        this.real = real;
        this.events = events;
        this.memory = memory;
    }

    private String pages() {
        return "(buffer pages still allocated: " + (memory.allocator().usage().bufferBytes() > 0) + ")";
    }

    @Override
    public Iommu iommu() {
        return real.iommu();
    }

    @Override
    public DomainType type() {
        return real.type();
    }

    @Override
    public long granule() {
        return real.granule();
    }

    @Override
    public long pageSizes() {
        return real.pageSizes();
    }

    @Override
    public long apertureStart() {
        return real.apertureStart();
    }

    @Override
    public long apertureEnd() {
        return real.apertureEnd();
    }

    @Override
    public IovaAllocator iovaAllocator() {
        return real.iovaAllocator();
    }

    @Override
    public void map(long iova, long pa, long size, Prot prot) {
        real.map(iova, pa, size, prot);
    }

    @Override
    public long unmap(long iova, long size) {
        events.add("unmap " + pages());
        return real.unmap(iova, size);
    }

    @Override
    public long iovaToPhys(long iova) {
        return real.iovaToPhys(iova);
    }

    @Override
    public void flushIotlb() {
        events.add("flush " + pages());
        real.flushIotlb();
    }

    @Override
    public void syncMap(long iova, long size) {
        events.add("sync-map " + pages());
        real.syncMap(iova, size);
    }

    @Override
    public Set<DmaDevice> devices() {
        return real.devices();
    }

    @Override
    public void close() {
        real.close();
    }

    @Override
    public boolean isClosed() {
        return real.isClosed();
    }
}
