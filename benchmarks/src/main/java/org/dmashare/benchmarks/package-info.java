/**
 * JMH benchmarks of dmashare, each beside a baseline measured in the same run: share + close,
 * bulk page-table mapping, IOVA allocation, device DMA through the IOTLB, and heap per buffer.
 * Run {@code java -jar benchmarks/target/benchmarks.jar} (see the README).
 */
package org.dmashare.benchmarks;
