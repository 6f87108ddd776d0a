package org.dmashare.iommu.support;

import org.dmashare.InvalidArgumentException;
import org.dmashare.iommu.DomainType;
import org.dmashare.iommu.Prot;
import org.dmashare.iova.IovaSpace;

/**
 * An identity (bypass) or blocked domain: no page table, nothing to map. Attaching a device to it
 * makes the stream pass physical addresses through, or fault everything.
 */
public final class FixedDomain extends BaseDomain {

    /**
     * Creates an identity or blocked domain.
     *
     * @param iommu the unit
     * @param type {@link DomainType#IDENTITY} or {@link DomainType#BLOCKED}
     * @throws InvalidArgumentException for {@link DomainType#PAGING}
     */
    public FixedDomain(AbstractIommu iommu, DomainType type) {
        super(iommu, type);
        if (type == DomainType.PAGING) {
            throw new InvalidArgumentException("FixedDomain is for identity and blocked domains only");
        }
    }

    private InvalidArgumentException noTable(String op) {
        return new InvalidArgumentException(op + " refused: " + this + " has no page table");
    }

    @Override
    public long granule() {
        return unit().variant().granule();
    }

    @Override
    public long pageSizes() {
        return unit().variant().pageSizes();
    }

    @Override
    public long apertureStart() {
        return 0;
    }

    @Override
    public long apertureEnd() {
        return 0;
    }

    /**
     * Not available: this domain has no IOVA space.
     *
     * @throws InvalidArgumentException always
     */
    @Override
    public IovaSpace iovaSpace() {
        throw noTable("IOVA allocation");
    }

    /**
     * Not available: this domain has no page table.
     *
     * @throws InvalidArgumentException always
     */
    @Override
    public void map(long iova, long pa, long size, Prot prot) {
        throw noTable("map");
    }

    /**
     * Not available: this domain has no page table.
     *
     * @throws InvalidArgumentException always
     */
    @Override
    public long unmap(long iova, long size) {
        throw noTable("unmap");
    }

    @Override
    public long iovaToPhys(long iova) {
        return type() == DomainType.IDENTITY ? iova : NO_TRANSLATION;
    }
}
