package org.dmashare.iommu;

import org.dmashare.Hex;

/**
 * The result of a hardware-side walk of the page tables for one IOVA: the physical address it
 * reaches and the leaf that maps it.
 *
 * @param iova the translated IOVA
 * @param pa the physical address of that byte
 * @param pageSize size of the leaf (page or block) that maps it
 * @param prot rights the leaf grants
 */
public record Translation(long iova, long pa, long pageSize, Prot prot) {
    @Override
    public String toString() {
        return Hex.of(iova) + " -> " + Hex.of(pa) + " (" + Hex.size(pageSize) + " leaf, " + prot + ")";
    }
}
