// The kit must really have run: the conformance test's report exists and counts passed checks.
def report = new File(basedir, 'target/surefire-reports/TEST-org.example.iommu.SimpleBackendConformanceTest.xml')
assert report.isFile() : "no surefire report for the conformance test: zero kit checks ran"
def suite = (report.text =~ /<testsuite [^>]*/)[0]
def count = { String name -> ((suite =~ /\b${name}="(\d+)"/)[0][1]) as int }
int ran = count('tests') - count('skipped')
println "[it] conformance kit checks run: ${ran}, failures ${count('failures')}, errors ${count('errors')}"
assert ran > 0 : "zero kit checks ran"
assert count('failures') == 0 && count('errors') == 0
return true
