/**
 * The per-domain IOVA allocator: top-down first fit below a limit with an alignment argument,
 * reserved ranges, and O(log n) allocation and free however many ranges are live.
 */
package org.dmashare.iova;
