/**
 * The backend conformance kit. A backend author extends {@link
 * org.dmashare.testkit.IommuBackendConformanceKit}, supplies a factory for their {@link
 * org.dmashare.iommu.Iommu} and the {@link org.dmashare.testkit.Capabilities} it declares, and
 * gets every SPI contract rule checked against it. The rules are grouped by topic in JUnit 5 test
 * interfaces ({@link org.dmashare.testkit.MapRules}, {@link org.dmashare.testkit.IotlbRules}, ...)
 * that the kit implements, each rule with a stable ID and statement in {@link
 * org.dmashare.testkit.KitRule}; every check starts from a fresh {@link
 * org.dmashare.testkit.KitFixture}. Where an optional capability is not declared, the kit checks
 * that the backend behaves as one without it instead of skipping the check. {@link
 * org.dmashare.testkit.DmaShareAssertions} is the AssertJ entry point for
 * domain and shared-buffer assertions, usable by any test. Every assertion reads translations the
 * way a device does, through {@link org.dmashare.iommu.Iommu#walk(int, long)} over the tables in
 * memory, never through the software side's {@code iovaToPhys}.
 */
package org.dmashare.testkit;
