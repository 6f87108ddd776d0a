package org.dmashare;

/**
 * A scatter list given for import has a segment that would let a device reach memory the importer
 * was not lent: its physical address or length is not a multiple of the required alignment (it
 * would split the IOVA range or expose memory outside the list), it lies outside memory, it
 * overlaps or repeats another segment, or its pages are free, an IOMMU's page tables, or held by
 * another owner than the lender. The message names the first bad segment (index and range), why
 * it is refused and what holds its pages; nothing is changed.
 */
public class UnsafeScatterListException extends DmaShareException {
    private static final long serialVersionUID = 1L;

    /** Index of the first refused segment. */
    private final int segmentIndex;

    /**
     * Creates the exception.
     *
     * @param segmentIndex index of the first segment that is refused
     * @param message what was asked, what was found and what would be accepted
     */
    public UnsafeScatterListException(int segmentIndex, String message) {
        super(message);
        this.segmentIndex = segmentIndex;
    }

    /**
     * Returns the index of the first refused segment.
     *
     * @return the segment index, from 0
     */
    public int segmentIndex() {
        return segmentIndex;
    }
}
