package org.dmashare.iommu;

import java.util.List;
import java.util.Optional;
import org.dmashare.InvalidArgumentException;
import org.dmashare.ObjectClosedException;
import org.dmashare.memory.PhysicalMemory;

/**
 * One IOMMU hardware unit: its streams, its fault log and its IOTLB. It creates
 * {@link IommuDomain}s and hands out the {@link DmaDevice} behind each stream ID. Implementations
 * are thread-safe.
 */
public interface Iommu {

    /**
     * The instance name from the configuration.
     *
     * @return the name
     */
    String name();

    /**
     * The backend that created this unit.
     *
     * @return the backend's name
     */
    String backend();

    /**
     * The variant this unit models.
     *
     * @return the variant, with its granule and page sizes
     */
    IommuBackend.Variant variant();

    /**
     * The memory this unit translates to and keeps its tables in.
     *
     * @return the memory
     */
    PhysicalMemory memory();

    /**
     * Number of stream IDs; valid IDs are {@code 0 .. streamCount() - 1}.
     *
     * @return the count
     */
    int streamCount();

    /**
     * IOVA width in bits.
     *
     * @return input address bits
     */
    int inputBits();

    /**
     * Physical address width in bits.
     *
     * @return output address bits
     */
    int outputBits();

    /**
     * Creates an empty paging domain.
     *
     * @return the domain, attached to no device
     * @throws ObjectClosedException if this unit is closed
     */
    default IommuDomain createDomain() {
        return createDomain(DomainType.PAGING);
    }

    /**
     * Creates a domain of the given type.
     *
     * @param type paging, identity or blocked
     * @return the domain, attached to no device
     * @throws InvalidArgumentException if this unit does not support {@code type}
     * @throws ObjectClosedException if this unit is closed
     */
    IommuDomain createDomain(DomainType type);

    /**
     * The device (bus master) behind stream {@code streamId}. The same object is returned each
     * time.
     *
     * @param streamId 0 .. {@code streamCount() - 1}
     * @return the device
     * @throws InvalidArgumentException if the ID is out of range
     */
    DmaDevice device(int streamId);

    /**
     * Walks the page tables for {@code iova} as the hardware would for stream {@code streamId}:
     * from the stream's translation registers through the tables in memory, bypassing the IOTLB
     * and recording no fault.
     *
     * @param streamId the stream
     * @param iova the address to translate
     * @return the translation, or empty if the walk finds no valid leaf or the stream blocks
     * @throws InvalidArgumentException if the stream ID is out of range
     */
    Optional<Translation> walk(int streamId, long iova);

    /**
     * The faults recorded since the log was last cleared, oldest first.
     *
     * @return an immutable snapshot
     */
    List<IommuFault> faults();

    /** Empties the fault log (acknowledges every recorded fault). */
    void clearFaults();

    /**
     * Number of translations currently cached in the IOTLB, across streams.
     *
     * @return the count
     */
    int iotlbSize();
}
