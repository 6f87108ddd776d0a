package ${package};

import org.dmashare.iommu.DomainType;
import org.dmashare.iommu.IommuBackend;
import org.dmashare.iommu.IommuFault;
import org.dmashare.iommu.support.AbstractIommu;
import org.dmashare.iommu.support.BaseDomain;
import org.dmashare.iommu.support.PagingDomain;
import org.dmashare.memory.PhysicalMemory;
import org.dmashare.pgtable.PageTableWalker;

/**
 * One unit. Each stream has one register, the physical address of its table (0: blocked); a
 * device's access walks the table in memory starting from that register.
 */
public final class ${classPrefix}Iommu extends AbstractIommu {
    private final ${classPrefix}Format format = new ${classPrefix}Format();
    private final long[] tableBase;

    ${classPrefix}Iommu(IommuBackend.Variant variant, String name, PhysicalMemory memory, int streams) {
        super(${classPrefix}Backend.NAME, variant, name, memory, streams, ${classPrefix}Format.INPUT_BITS, ${classPrefix}Format.OUTPUT_BITS);
        this.tableBase = new long[streams];
    }

    @Override
    protected PagingDomain createPagingDomain() {
        return new PagingDomain(this, format, 0, 1L << ${classPrefix}Format.INPUT_BITS) { };
    }

    @Override
    protected synchronized void programStream(int streamId, BaseDomain domain) {
        tableBase[streamId] = domain != null && domain.type() == DomainType.PAGING
                ? ((PagingDomain) domain).table().rootPa() : 0;
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
}
