package org.dmashare.iommu.support;

import java.util.Objects;
import java.util.Optional;
import org.dmashare.Hex;
import org.dmashare.InvalidArgumentException;
import org.dmashare.iommu.Access;
import org.dmashare.iommu.DmaDevice;
import org.dmashare.iommu.Iommu;
import org.dmashare.iommu.IommuDomain;
import org.dmashare.memory.PhysicalMemory;

/** The bus master behind one stream of an {@link AbstractIommu}. */
final class StreamDevice implements DmaDevice {
    private final AbstractIommu iommu;
    private final int sid;
    private volatile BaseDomain current;

    StreamDevice(AbstractIommu iommu, int sid) {
        this.iommu = iommu;
        this.sid = sid;
    }

    @Override
    public Iommu iommu() {
        return iommu;
    }

    @Override
    public int streamId() {
        return sid;
    }

    @Override
    public Optional<IommuDomain> domain() {
        return Optional.ofNullable(current);
    }

    BaseDomain current() {
        return current;
    }

    void setCurrent(BaseDomain d) {
        current = d;
    }

    @Override
    public void attach(IommuDomain domain) {
        Objects.requireNonNull(domain, "domain");
        if (!(domain instanceof BaseDomain) || domain.iommu() != iommu) {
            throw new InvalidArgumentException("cannot attach stream " + sid + " of " + iommu.name() + " to " + domain
                    + ": the domain belongs to another IOMMU");
        }
        iommu.attach(this, (BaseDomain) domain);
    }

    @Override
    public void detach() {
        iommu.attach(this, null);
    }

    @Override
    public void read(long iova, byte[] dst, int offset, int length) {
        Objects.requireNonNull(dst, "dst");
        checkSlice(dst.length, offset, length);
        transfer(iova, dst, offset, length, Access.READ);
    }

    @Override
    public void write(long iova, byte[] src, int offset, int length) {
        Objects.requireNonNull(src, "src");
        checkSlice(src.length, offset, length);
        transfer(iova, src, offset, length, Access.WRITE);
    }

    private void transfer(long iova, byte[] data, int offset, int length, Access access) {
        long granule = iommu.variant().granule();
        PhysicalMemory memory = iommu.memory();
        while (length > 0) {
            int n = (int) Math.min(length, granule - (iova & (granule - 1)));
            long pa = iommu.translate(sid, iova, n, access);
            if (!memory.contains(pa, n)) {
                throw new InvalidArgumentException("DMA by stream " + sid + " of " + iommu.name() + " at IOVA "
                        + Hex.of(iova) + " reaches physical " + Hex.of(pa) + ", outside the modelled memory");
            }
            if (access == Access.READ) {
                memory.read(pa, data, offset, n);
            } else {
                memory.write(pa, data, offset, n);
            }
            iova += n;
            offset += n;
            length -= n;
        }
    }

    private static void checkSlice(int arrayLength, int offset, int length) {
        if (length < 0 || offset < 0 || offset > arrayLength - length) {
            throw new InvalidArgumentException("array slice [" + offset + ", " + offset + "+" + length
                    + ") does not fit an array of " + arrayLength);
        }
    }

    @Override
    public String toString() {
        return "device " + iommu.name() + "/sid" + sid;
    }
}
