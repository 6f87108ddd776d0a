package org.dmashare.memory;

/** What an allocated block of pages is used for; the page allocator accounts for each use apart. */
public enum PageUse {
    /** Buffer data handed to devices. */
    BUFFER,
    /** IOMMU page-table pages. */
    PAGE_TABLE
}
